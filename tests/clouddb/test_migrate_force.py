"""`railzway migrate --force`: it names the schema it acts on, acts on the one the error named, shows the
current version first and asks for --yes before forcing a schema that is not dirty."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from railzway.clouddb import CLOUD_DB
from railzway.service.schema import SERVICE
from tests.conftest import PROJECT

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def database(new_database: Callable[[], str]) -> str:
    return new_database()


@pytest.fixture
def migrate(railzway_command: Path, database: str) -> Run:
    """`railzway migrate ARGS` through the console script, against `database`."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(railzway_command), "migrate", *args],
            cwd=PROJECT,
            env={**os.environ, "RAILZWAY_CLOUD_DB_URL": database},
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


@pytest.fixture
def conn(database: str, migrate: Run) -> Iterator[psycopg.Connection]:
    """A fully migrated Cloud DB (the Cloud DB's own schema, the queue, the service's tables)."""
    first = migrate()
    assert first.returncode == 0, first.stderr
    with psycopg.connect(database, autocommit=True) as connection:
        yield connection


def versions(conn: psycopg.Connection, table: str) -> list[tuple[int, bool]]:
    return [(int(v), bool(d)) for v, d in conn.execute(f"SELECT version, dirty FROM {table}").fetchall()]


def test_a_dirty_service_schema_is_named_with_the_source_to_force(migrate: Run, conn: psycopg.Connection) -> None:
    conn.execute(f"UPDATE {SERVICE.table} SET dirty = true")
    result = migrate()
    assert result.returncode == 1
    latest = SERVICE.latest()
    assert result.stderr.startswith(f"error: service: the schema is dirty at version {latest}")
    assert "--source service`" in result.stderr
    assert "Traceback" not in result.stderr


def test_force_acts_on_the_source_it_names_only(migrate: Run, conn: psycopg.Connection) -> None:
    conn.execute(f"UPDATE {SERVICE.table} SET dirty = true")
    latest = SERVICE.latest()
    assert latest is not None
    result = migrate("--force", str(latest), "--source", "service")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"service: at version {latest}, dirty (latest {latest})",
        f"service: recorded version {latest} as applied and clean; run `railzway migrate` next",
    ]
    assert versions(conn, SERVICE.table) == [(latest, False)]
    assert versions(conn, CLOUD_DB.table) == [(CLOUD_DB.latest(), False)]
    assert migrate().returncode == 0


def test_force_on_a_clean_schema_shows_its_version_and_asks_for_yes(migrate: Run, conn: psycopg.Connection) -> None:
    latest = CLOUD_DB.latest()
    result = migrate("--force", "none")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"cloud-db: at version {latest}, clean (latest {latest})"]
    assert "the schema is not dirty" in result.stderr and "Add --yes" in result.stderr
    assert versions(conn, CLOUD_DB.table) == [(latest, False)]


def test_force_with_yes_sets_a_clean_schema(migrate: Run, conn: psycopg.Connection) -> None:
    assert migrate("--force", "4", "--yes").returncode == 0
    assert versions(conn, CLOUD_DB.table) == [(4, False)]


def test_an_unknown_source_is_refused(migrate: Run, conn: psycopg.Connection) -> None:
    result = migrate("--force", "1", "--source", "queue")
    assert result.returncode == 2
    assert "--source must be one of cloud-db, service, not 'queue'" in result.stderr


def test_source_and_yes_go_with_force(migrate: Run, conn: psycopg.Connection) -> None:
    result = migrate("--yes")
    assert result.returncode == 2
    assert "--source and --yes go with --force" in result.stderr


def test_status_shows_the_service_schema_too(migrate: Run, conn: psycopg.Connection) -> None:
    lines = migrate("--status").stdout.splitlines()
    assert lines[:2] == [f"version: {CLOUD_DB.latest()}", "dirty: false"]
    assert f"service: version {SERVICE.latest()}, dirty false, latest {SERVICE.latest()}" in lines
