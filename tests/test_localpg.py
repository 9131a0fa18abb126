"""The throwaway server every database test relies on is real and checks passwords."""

from __future__ import annotations

import psycopg
import pytest

from devkit.localpg import LocalPostgres


def test_server_answers_as_superuser(postgres: LocalPostgres) -> None:
    with psycopg.connect(postgres.url()) as conn:
        row = conn.execute("SELECT current_user, current_setting('server_version_num')::int").fetchone()
    assert row is not None
    assert row[0] == "postgres"
    assert row[1] >= 130000


def test_server_refuses_a_wrong_password(postgres: LocalPostgres) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres.url(password="not-the-password", user="postgres"), connect_timeout=5)
