"""Fixtures: tenants with data on the session's real server, a real file:// backup store, and the server's tools."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from lifecycle_kit import CliRunner, TenantFactory, drop_tenant
from psycopg import sql

from devkit.localpg import LocalPostgres
from railzway.lifecycle.backup import ServerTools, server_tools
from railzway.lifecycle.backup_store import BackupStore
from railzway.registry import naming
from tests.conftest import PROJECT


@pytest.fixture
def store(tmp_path: Path) -> BackupStore:
    return BackupStore(f"file://{tmp_path}/backups")


@pytest.fixture(scope="session")
def tools(postgres: LocalPostgres) -> ServerTools:
    return server_tools(postgres.url())


@pytest.fixture
def make_tenant(postgres: LocalPostgres) -> Iterator[TenantFactory]:
    """Create a tenant as the component does (its role owns its database, PUBLIC revoked) with data in it,
    written by the tenant itself; every tenant made is dropped afterwards."""
    made: list[int] = []

    def make(org_id: int | None = None, rows: int = 100) -> int:
        org_id = org_id or 900_000 + secrets.randbelow(99_999)
        role, database = naming.role_name(org_id), naming.database_name(org_id)
        password = secrets.token_urlsafe(24)
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
            )
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role)))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
        made.append(org_id)
        with psycopg.connect(postgres.url(database, user=role, password=password), autocommit=True) as conn:
            conn.execute("CREATE SCHEMA billing")
            conn.execute("CREATE TABLE billing.invoices (id bigint PRIMARY KEY, customer text NOT NULL, cents int)")
            conn.execute("CREATE INDEX invoices_customer ON billing.invoices (customer)")
            conn.execute("CREATE TABLE public.events (id serial PRIMARY KEY, payload jsonb)")
            conn.execute(
                "INSERT INTO billing.invoices SELECT g, 'customer-' || (g %% 7), g * 100 FROM generate_series(1, %s) g",
                (rows,),
            )
            conn.execute(
                "INSERT INTO public.events (payload) SELECT jsonb_build_object('n', g) FROM generate_series(1, 3) g"
            )
        return org_id

    yield make
    for org_id in made:
        drop_tenant(postgres, org_id)


@pytest.fixture
def cloud(cloud_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(cloud_db, autocommit=True) as conn:
        yield conn


@pytest.fixture
def run_cli(postgres: LocalPostgres) -> CliRunner:
    """`python -m railzway ARGS` as an operator runs it: admin password in PGPASSWORD, not in the URL."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if k not in ("RAILZWAY_CLOUD_DB_URL", "RAILZWAY_BACKUP_URL")}
        environment.update({"PGPASSWORD": postgres.password, **(env or {})})
        return subprocess.run(
            [sys.executable, "-m", "railzway", *args],
            capture_output=True,
            text=True,
            cwd=PROJECT,
            env=environment,
            timeout=300,
        )

    return run
