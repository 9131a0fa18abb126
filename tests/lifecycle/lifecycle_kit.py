"""Helpers the lifecycle tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from devkit.localpg import LocalPostgres
from railzway.registry import naming

TenantFactory = Callable[..., int]
CliRunner = Callable[..., subprocess.CompletedProcess[str]]


def drop_tenant(postgres: LocalPostgres, org_id: int) -> None:
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(naming.database_name(org_id)))
        )
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(naming.role_name(org_id))))


def add_tenant_file(registry_dir: Path, org_id: int, region: str = "eu-west", status: str = "running") -> None:
    """Put a tenant in a registry copy, written as an operator writes one."""
    (registry_dir / "orgs" / f"{org_id}.yaml").write_text(
        f'org_id: {org_id}\ntier: starter\nversion: "1.8.2"\nstatus: {status}\nregion: {region}\nshard: 0\n'
        "subscription_id: sub_test\n"
    )


def admin_url_without_password(postgres: LocalPostgres) -> str:
    return f"postgresql://{postgres.superuser}@{postgres.host}:{postgres.port}/postgres"
