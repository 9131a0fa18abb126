"""The audit after a purge: silent about the purged tenant, loud when its role or database comes back."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from lifecycle_kit import TenantFactory

from devkit.localpg import LocalPostgres
from railzway.audit.run import run_audit
from railzway.lifecycle.backup import ServerTools
from railzway.lifecycle.backup_store import BackupStore
from railzway.lifecycle.purge import purge
from railzway.registry import naming
from railzway.registry.loader import load_registry


@pytest.fixture
def purged(
    postgres: LocalPostgres,
    store: BackupStore,
    tools: ServerTools,
    cloud: psycopg.Connection,
    make_tenant: TenantFactory,
) -> int:
    org = make_tenant(rows=3)
    purge(
        postgres.url(), store, tools, cloud, org_id=org, confirm=org, registry_org_ids=(), stacks_holding=lambda _: []
    )
    return org


def _codes(postgres: LocalPostgres, registry_dir: Path, cloud_db: str, org: int) -> list[str]:
    # The session's server is shared with other tests: only this org's findings are this test's business.
    result = run_audit(postgres.url(), load_registry(registry_dir), environ={"RAILZWAY_CLOUD_DB_URL": cloud_db})
    return sorted(f.code for f in result.findings if f.org_id == org)


def test_an_orphan_is_reported_until_it_is_purged(
    postgres: LocalPostgres, registry_dir: Path, cloud_db: str, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=1)
    assert _codes(postgres, registry_dir, cloud_db, org) == ["orphan-database", "orphan-role"]


def test_a_purged_tenant_is_not_reported(
    postgres: LocalPostgres, registry_dir: Path, cloud_db: str, purged: int
) -> None:
    assert _codes(postgres, registry_dir, cloud_db, purged) == []


def test_a_purged_tenant_whose_role_reappeared_is_a_finding(
    postgres: LocalPostgres, registry_dir: Path, cloud_db: str, purged: int
) -> None:
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {naming.role_name(purged)} LOGIN")
    try:
        result = run_audit(postgres.url(), load_registry(registry_dir), environ={"RAILZWAY_CLOUD_DB_URL": cloud_db})
        [finding] = [f for f in result.findings if f.org_id == purged]
        assert finding.code == "purged-role-reappeared"
        assert finding.severity == "finding"
        assert f"org {purged} was purged" in finding.problem
    finally:
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {naming.role_name(purged)}")
