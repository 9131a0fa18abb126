"""Test data for the Cloud DB tests: tenant outputs as the component exports them, and row dumps."""

from __future__ import annotations

from typing import Any

import psycopg

from railzway import clouddb

# Columns whose physical version tells whether a row was rewritten: a new tuple gets a new ctid and xmin.
ROW_DUMP = "SELECT ctid::text, xmin::text, * FROM instances ORDER BY org_id"


def tenant(org_id: int, password: str | None = None, **overrides: Any) -> dict[str, Any]:
    """One tenant's outputs as `TenantInstance` exports them."""
    secret = password if password is not None else f"pw-{org_id:06d}-{'x' * 22}"
    values: dict[str, Any] = {
        "org_id": org_id,
        "db_host": "tenants-db.eu-west.internal",
        "db_port": 5432,
        "db_name": f"railzway_org_{org_id}",
        "db_user": f"railzway_user_{org_id}",
        "db_password": secret,
        "database_url": f"postgres://railzway_user_{org_id}:{secret}@tenants-db.eu-west.internal:5432/"
        f"railzway_org_{org_id}?sslmode=require",
        "nomad_job_id": f"railzway-org-{org_id}",
        "status": "running",
        "tier": "starter",
        "version": "1.8.2",
        "region": "eu-west",
    }
    values.update(overrides)
    return values


def outputs(*tenants: dict[str, Any]) -> dict[str, Any]:
    """What `pulumi stack output --json --show-secrets` prints for these tenants."""
    return {"tenants": {str(t["org_id"]): t for t in tenants}}


def dump(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(ROW_DUMP).fetchall()


SEED_ROWS = [
    # What the Go control plane left: plain-text passwords, its own statuses, tiers and compute engines.
    (
        1001,
        "railzway-org-1001",
        "1.7.0",
        "1.7.0",
        "running",
        "STARTER",
        "hetzner",
        "sub_1001",
        "db1",
        5432,
        "railzway_org_1001",
        "railzway_user_1001",
        "seed-plain-password-1001-abcdefg",
    ),
    (
        1002,
        "railzway-org-1002",
        "1.7.1",
        "1.7.0",
        "upgrading",
        "PRO",
        "hetzner",
        None,
        "db1",
        5432,
        "railzway_org_1002",
        "railzway_user_1002",
        "seed-plain-password-1002-abcdefg",
    ),
    (1003, "", "1.7.0", "", "init", "FREE_TRIAL", None, None, None, None, None, None, None),
]


def seed_at_version_4(url: str) -> None:
    """A Cloud DB as the seed's Go control plane left it: version 4, plain-text passwords."""
    with psycopg.connect(url) as conn:
        clouddb.migrate_to(conn, 4)
        with conn.transaction():
            for row in SEED_ROWS:
                conn.execute(
                    "INSERT INTO instances (org_id, nomad_job_id, desired_version, current_version, status, tier, "
                    "compute_engine, subscription_id, db_host, db_port, db_name, db_user, db_password) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    row,
                )
