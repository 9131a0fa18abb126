"""Why a terminated tenant's database keeps ALLOW_CONNECTIONS true, shown on the real server.

The component terminates a tenant with its role's NOLOGIN, its database's CONNECTION LIMIT 0 (superusers
are exempt) and the revoked PUBLIC privileges, the state these tests build by hand (the statements the
provider issues). ALLOW_CONNECTIONS false would
also lock out the admin, and the provider connects to a database to manage its grant.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from devkit.localpg import LocalPostgres


@dataclass
class Terminated:
    database: str
    tenant: str
    other: str
    password: str


@pytest.fixture
def terminated(postgres: LocalPostgres) -> Iterator[Terminated]:
    suffix = secrets.token_hex(4)
    state = Terminated(f"t_org_{suffix}", f"t_user_{suffix}", f"t_other_{suffix}", secrets.token_urlsafe(24))
    ident = sql.Identifier
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} NOLOGIN PASSWORD {}").format(ident(state.tenant), sql.Literal(state.password))
        )
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(ident(state.other), sql.Literal(state.password))
        )
        admin.execute(
            sql.SQL(
                "CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8' ALLOW_CONNECTIONS true CONNECTION LIMIT 0"
            ).format(ident(state.database), ident(state.tenant))
        )
        admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident(state.database)))
    yield state
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident(state.database)))
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}, {}").format(ident(state.tenant), ident(state.other)))


def test_the_terminated_tenant_cannot_log_in(postgres: LocalPostgres, terminated: Terminated) -> None:
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(postgres.url(terminated.database, terminated.tenant, terminated.password)).close()


def test_no_other_role_can_connect(postgres: LocalPostgres, terminated: Terminated) -> None:
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(postgres.url(terminated.database, terminated.other, terminated.password)).close()


def test_a_role_granted_connect_by_mistake_is_still_refused(postgres: LocalPostgres, terminated: Terminated) -> None:
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(terminated.database), sql.Identifier(terminated.other)
            )
        )
    with pytest.raises(psycopg.OperationalError, match="too many connections for database"):
        psycopg.connect(postgres.url(terminated.database, terminated.other, terminated.password)).close()


def test_the_admin_still_reaches_the_retained_data(postgres: LocalPostgres, terminated: Terminated) -> None:
    with psycopg.connect(postgres.url(terminated.database)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (terminated.database,)


def test_allow_connections_false_would_lock_out_the_admin_too(postgres: LocalPostgres, terminated: Terminated) -> None:
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(terminated.database)))
    with pytest.raises(psycopg.OperationalError, match="not currently accepting connections"):
        psycopg.connect(postgres.url(terminated.database)).close()
