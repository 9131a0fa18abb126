"""A hostile tenant on the real server: its role, the database it owns, and the traps issue 13 describes.

A module of its own (not conftest.py) so test modules import it by a name unique in the test tree.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from devkit.localpg import LocalPostgres
from railzway.admin import session_rules as admin_rules


@dataclass(frozen=True)
class Tenant:
    server: LocalPostgres
    role: str
    database: str
    password: str

    def url(self) -> str:
        return self.server.url(self.database, self.role, self.password)

    def run(self, *statements: str) -> None:
        """Run `statements` as the tenant, connected to its own database ({role} and {database} filled in)."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement.format(role=self.role, database=self.database).encode())

    def is_superuser(self) -> bool:
        with psycopg.connect(self.server.url(), autocommit=True) as conn:
            row = conn.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = %s", (self.role,)).fetchone()
        assert row is not None
        return bool(row[0])


@contextmanager
def hostile_tenant(server: LocalPostgres) -> Iterator[Tenant]:
    """A login role owning its own database, as the component makes them; dropped afterwards."""
    suffix = secrets.token_hex(4)
    tenant = Tenant(server, f"trap_user_{suffix}", f"trap_org_{suffix}", secrets.token_urlsafe(18))
    ident = sql.Identifier
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER").format(
                ident(tenant.role), sql.Literal(tenant.password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(ident(tenant.database), ident(tenant.role))
        )
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident(tenant.database)))
    try:
        yield tenant
    finally:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident(tenant.database)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident(tenant.role)))


@contextmanager
def admin_role(server: LocalPostgres, pinned: bool) -> Iterator[str]:
    """A superuser login role with the server's admin password; `pinned`: with the region set-up applied."""
    name = f"trap_admin_{secrets.token_hex(4)}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} SUPERUSER LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(server.password)
            )
        )
        if pinned:
            conn.execute(admin_rules.setup_sql(name).encode())
    try:
        yield name
    finally:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


# The issue's attack, verbatim but for the names: functions that make the tenant superuser when a
# superuser calls them, one of them named like the catalogue function the provider calls unqualified.
ESCALATE = """
create function trap.escalate() returns void language plpgsql as $$
begin
  if (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
    execute 'alter role {role} superuser';
  end if;
end $$
"""

ISSUE_ATTACK = (
    "create schema trap",
    ESCALATE,
    "create function trap.pg_advisory_xact_lock(bigint) returns void language plpgsql as "
    "$$ begin perform trap.escalate(); perform pg_catalog.pg_advisory_xact_lock($1); end $$",
    "alter database {database} set search_path = trap, pg_catalog, public",
)

# Variants: a view shadowing a catalogue view, an operator shadowing `=`, and a schema named after the
# admin role for "$user" (invisible to the tenant's own sessions).
VIEW_ATTACK = (
    "create schema trap",
    ESCALATE,
    "create function trap.escalated() returns boolean language plpgsql as "
    "$$ begin perform trap.escalate(); return true; end $$",
    "create view trap.pg_database as select d.* from pg_catalog.pg_database d where trap.escalated()",
    "alter database {database} set search_path = trap, pg_catalog, public",
)

OPERATOR_ATTACK = (
    "create schema trap",
    # The escalation's own comparison must not call the trap operator again.
    ESCALATE.replace("rolname = current_user", "rolname OPERATOR(pg_catalog.=) current_user"),
    "create function trap.name_eq(name, name) returns boolean language plpgsql as "
    "$$ begin perform trap.escalate(); return pg_catalog.nameeq($1, $2); end $$",
    "create operator trap.= (leftarg = name, rightarg = name, function = trap.name_eq)",
    "alter database {database} set search_path = trap, pg_catalog, public",
)


def user_schema_attack(admin: str) -> tuple[str, ...]:
    schema = admin_rules.quote_ident(admin)
    return (
        f"create schema {schema}",
        "create schema trap",
        ESCALATE,
        f"create function {schema}.pg_advisory_xact_lock(bigint) returns void language plpgsql as "
        "$$ begin perform trap.escalate(); perform pg_catalog.pg_advisory_xact_lock($1); end $$",
        'alter database {database} set search_path = "$user", pg_catalog, public',
    )


def provider_writes_the_grant(conn: psycopg.Connection, database: str) -> None:
    """What the postgresql provider sends, unqualified, when it writes the revoke-PUBLIC grant of `database`.

    One transaction: lock the database, read its ACL, revoke, commit (the provider's grant code paths).
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(oid::bigint) FROM pg_database WHERE datname = %s", (database,))
        conn.execute(
            "SELECT array_agg(privilege_type) FROM (SELECT (aclexplode(datacl)).* FROM pg_database "
            "WHERE datname = %s) AS privileges WHERE grantee = 0",
            (database,),
        )
        conn.execute(sql.SQL("REVOKE ALL PRIVILEGES ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
