"""A fleet exactly as the seed's Go control plane provisioned it, on the test session's real PostgreSQL.

Its PostgreSQL adapter ran, per organization, `CREATE USER railzway_user_<id> WITH PASSWORD '<32 chars>'`
and `CREATE DATABASE railzway_org_<id> OWNER railzway_user_<id>` (default template, PUBLIC not revoked),
and its repository saved an `instances` row in the Cloud DB, which its migrations left at version 4 with
`db_password` in plain text (`seed/database-provisioning.md`). The instances below cover what adoption
must accept and what it must refuse.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from devkit.localpg import LocalPostgres
from railzway import clouddb
from railzway.registry import naming

# Roles are cluster-wide and the session server is shared by every test module: a range of our own.
BASE = 815000
_ALPHABET = string.ascii_letters + string.digits


def seed_password() -> str:
    """32 characters from crypto-grade randomness, as the Go control plane generated them."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(32))


@dataclass(frozen=True)
class SeedTenant:
    org_id: int
    status: str
    tier: str | None
    desired_version: str
    current_version: str
    password: str
    role: bool = True
    database_owner: str | None = "self"
    """`self`: owned by its role (as the seed did); None: no database; another name: owned by that role."""
    cloud_password: str | None = None
    """What the Cloud DB row says, when it differs from the role's real password."""
    subscription_id: str | None = None


def seed_tenants() -> list[SeedTenant]:
    return [
        SeedTenant(BASE + 1, "running", "STARTER", "1.7.0", "1.7.0", seed_password(), subscription_id="sub_A1"),
        SeedTenant(BASE + 2, "upgrading", "PRO", "1.8.2", "1.7.0", seed_password()),
        SeedTenant(BASE + 3, "stopped", "growth", "1.7.0", "1.7.0", seed_password()),
        SeedTenant(BASE + 4, "terminated", "starter", "1.6.0", "1.6.0", seed_password()),
        # Refused: its database is owned by the admin, not by its role.
        SeedTenant(BASE + 5, "running", "starter", "1.7.0", "1.7.0", seed_password(), database_owner="postgres"),
        # Refused: the role exists, the database does not.
        SeedTenant(BASE + 6, "running", "starter", "1.7.0", "1.7.0", seed_password(), database_owner=None),
        # Refused: the Go control plane never finished it (no role, no database).
        SeedTenant(BASE + 7, "provisioning", "starter", "1.7.0", "", seed_password(), role=False, database_owner=None),
        # Refused: "credentials save failed" - the Cloud DB holds another password than the role's.
        SeedTenant(BASE + 8, "running", "starter", "1.7.0", "1.7.0", seed_password(), cloud_password=seed_password()),
    ]


ADOPTABLE = (BASE + 1, BASE + 2, BASE + 3, BASE + 4)
REFUSED = (BASE + 5, BASE + 6, BASE + 7, BASE + 8)


def provision_like_the_seed(server: LocalPostgres, tenants: Iterable[SeedTenant]) -> None:
    """The Go control plane's SQL, one tenant at a time."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        for t in tenants:
            role = sql.Identifier(naming.role_name(t.org_id))
            database = sql.Identifier(naming.database_name(t.org_id))
            if t.role:
                conn.execute(sql.SQL("CREATE USER {} WITH PASSWORD {}").format(role, sql.Literal(t.password)))
            if t.database_owner == "self":
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, role))
            elif t.database_owner is not None:
                owner = sql.Identifier(t.database_owner)
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, owner))


def seed_cloud_db(url: str, tenants: Iterable[SeedTenant], host: str, port: int) -> None:
    """The Cloud DB at version 4 with one row per tenant, passwords in plain text."""
    with psycopg.connect(url) as conn:
        clouddb.migrate_to(conn, 4)
        with conn.transaction():
            for t in tenants:
                conn.execute(
                    "INSERT INTO instances (org_id, nomad_job_id, desired_version, current_version, status, tier, "
                    "compute_engine, subscription_id, db_host, db_port, db_name, db_user, db_password) "
                    "VALUES (%s, %s, %s, %s, %s, %s, 'nomad', %s, %s, %s, %s, %s, %s)",
                    (
                        t.org_id,
                        naming.job_id(t.org_id),
                        t.desired_version,
                        t.current_version or None,
                        t.status,
                        t.tier,
                        t.subscription_id,
                        host,
                        port,
                        naming.database_name(t.org_id),
                        naming.role_name(t.org_id),
                        t.cloud_password or t.password,
                    ),
                )


def drop_seed_fleet(server: LocalPostgres, org_ids: Iterable[int]) -> None:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        for org_id in org_ids:
            database = sql.Identifier(naming.database_name(org_id))
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(naming.role_name(org_id))))
