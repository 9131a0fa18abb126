"""`password_matches` against verifiers the real server stored (SCRAM-SHA-256, its default, and md5)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from devkit.localpg import LocalPostgres
from railzway.adopt.live_server import password_matches

ROLE = "railzway_user_815900"
PASSWORD = "Zq8xT1vKp3LmN7bW2cRd9sYf4gHj6kA0"


@pytest.fixture
def verifier(postgres: LocalPostgres, request: pytest.FixtureRequest) -> Iterator[str]:
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("SET password_encryption = {}").format(sql.Literal(request.param)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(ROLE)))
        conn.execute(sql.SQL("CREATE USER {} WITH PASSWORD {}").format(sql.Identifier(ROLE), sql.Literal(PASSWORD)))
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (ROLE,)).fetchone()
        assert row is not None
        try:
            yield str(row[0])
        finally:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(ROLE)))


@pytest.mark.parametrize("verifier", ["scram-sha-256", "md5"], indirect=True)
def test_the_role_password_matches_its_stored_verifier(verifier: str) -> None:
    assert password_matches(ROLE, PASSWORD, verifier)


@pytest.mark.parametrize("verifier", ["scram-sha-256", "md5"], indirect=True)
def test_another_password_does_not_match(verifier: str) -> None:
    assert not password_matches(ROLE, PASSWORD[:-1] + "X", verifier)


def test_a_role_without_a_password_matches_nothing() -> None:
    assert not password_matches(ROLE, PASSWORD, None)
