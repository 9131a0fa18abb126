"""Test data for the Cloud DB tests: tenant outputs as the component exports them, and row dumps."""

from __future__ import annotations

from typing import Any

import psycopg

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
