"""Purge on the real server and a real Cloud DB: refusals, the final backup, the tombstone, idempotency."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection
from pathlib import Path

import psycopg
import pytest
from lifecycle_kit import TenantFactory

from devkit.localpg import LocalPostgres
from railzway.lifecycle import records
from railzway.lifecycle.backup import ServerTools
from railzway.lifecycle.backup_store import BackupStore
from railzway.lifecycle.purge import Purged, PurgeRefused, purge, tenant_in_resources
from railzway.registry import naming
from tests.conftest import PROJECT

RECORDED_STATE = PROJECT.parent / "shared" / "engine" / "state-export.json"


def _no_stack(org_id: int) -> list[str]:
    return []


def _exists(postgres: LocalPostgres, org: int) -> tuple[bool, bool]:
    with psycopg.connect(postgres.url()) as conn:
        role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (naming.role_name(org),)).fetchone()
        db = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (naming.database_name(org),)).fetchone()
    return role is not None, db is not None


def _purge(
    postgres: LocalPostgres,
    store: BackupStore,
    tools: ServerTools,
    cloud: psycopg.Connection,
    org: int,
    confirm: int | None = None,
    registry_org_ids: Collection[int] = (),
    stacks_holding: Callable[[int], list[str]] = _no_stack,
) -> Purged:
    return purge(
        postgres.url(),
        store,
        tools,
        cloud,
        org_id=org,
        confirm=org if confirm is None else confirm,
        registry_org_ids=registry_org_ids,
        stacks_holding=stacks_holding,
    )


def test_refuses_a_tenant_still_in_the_registry(
    postgres: LocalPostgres,
    store: BackupStore,
    tools: ServerTools,
    cloud: psycopg.Connection,
    make_tenant: TenantFactory,
) -> None:
    org = make_tenant(rows=3)
    with pytest.raises(PurgeRefused, match=f"org {org} is in the registry"):
        _purge(postgres, store, tools, cloud, org, registry_org_ids={org})
    assert _exists(postgres, org) == (True, True)
    assert store.backups() == []


def test_refuses_a_tenant_still_in_a_stack_state(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, cloud: psycopg.Connection
) -> None:
    recorded = json.loads(RECORDED_STATE.read_text())["deployment"]["resources"]

    def holding(org_id: int) -> list[str]:
        return ["cap"] if tenant_in_resources(recorded, org_id) else []

    with pytest.raises(PurgeRefused, match="still in the state of stack"):
        _purge(postgres, store, tools, cloud, 1001, stacks_holding=holding)


def test_refuses_when_confirm_does_not_repeat_the_org(
    postgres: LocalPostgres,
    store: BackupStore,
    tools: ServerTools,
    cloud: psycopg.Connection,
    make_tenant: TenantFactory,
) -> None:
    org = make_tenant(rows=3)
    with pytest.raises(PurgeRefused, match="does not repeat"):
        _purge(postgres, store, tools, cloud, org, confirm=org + 1)
    assert _exists(postgres, org) == (True, True)


def test_recorded_state_holds_its_tenants_and_no_other() -> None:
    recorded = json.loads(RECORDED_STATE.read_text())["deployment"]["resources"]
    assert [org for org in (1001, 1005, 2003, 4242) if tenant_in_resources(recorded, org)] == [1001, 1005, 2003]


def test_purges_an_orphan_after_a_final_backup_and_leaves_a_tombstone(
    postgres: LocalPostgres,
    store: BackupStore,
    tools: ServerTools,
    cloud: psycopg.Connection,
    make_tenant: TenantFactory,
) -> None:
    org = make_tenant(rows=40)
    cloud.execute(
        "INSERT INTO instances (org_id, status, region, db_password, db_password_key_id, db_password_fingerprint) "
        "VALUES (%s, 'running', 'us-east', 'ciphertext', 'k1', 'f1')",
        (org,),
    )
    done = _purge(postgres, store, tools, cloud, org)
    assert _exists(postgres, org) == (False, False)
    [final] = store.backups()
    assert final.key.startswith(f"us-east/{org}/")
    assert done.final_backup_url == store.url_of(final.key)
    manifest = json.loads(Path(store.url.removeprefix("file://"), final.key.replace(".dump", ".json")).read_text())
    assert manifest["final"] is True
    assert done.final_backup_sha256 == manifest["sha256"]
    tomb = records.tombstone(cloud, org)
    assert tomb is not None
    assert (tomb.final_backup_url, tomb.final_backup_sha256) == (done.final_backup_url, manifest["sha256"])
    row = cloud.execute(
        "SELECT status, purged_at IS NOT NULL, db_password, db_password_key_id FROM instances WHERE org_id = %s",
        (org,),
    ).fetchone()
    assert row == ("purged", True, None, None)
    assert [(r.outcome, r.final) for r in records.backups_of(cloud, org)] == [("succeeded", True)]


def test_the_final_backup_restores_the_purged_rows(
    postgres: LocalPostgres,
    store: BackupStore,
    tools: ServerTools,
    cloud: psycopg.Connection,
    make_tenant: TenantFactory,
) -> None:
    from railzway.lifecycle.restore import restore_into

    org = make_tenant(rows=77)
    _purge(postgres, store, tools, cloud, org)
    [final] = store.backups()
    restore_into(postgres.url(), store, tools, final.key, f"purged_{org}")
    try:
        with psycopg.connect(postgres.url(f"purged_{org}")) as conn:
            assert conn.execute("SELECT count(*) FROM billing.invoices").fetchone() == (77,)
    finally:
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS purged_{org}")


def test_a_second_purge_is_a_no_op(
    postgres: LocalPostgres,
    store: BackupStore,
    tools: ServerTools,
    cloud: psycopg.Connection,
    make_tenant: TenantFactory,
) -> None:
    org = make_tenant(rows=5)
    first = _purge(postgres, store, tools, cloud, org)
    second = _purge(postgres, store, tools, cloud, org)
    assert second.already
    assert second.final_backup_url == first.final_backup_url
    assert len(store.backups()) == 1
    assert len(records.backups_of(cloud, org)) == 1


def test_a_failed_final_backup_stops_the_purge_and_keeps_the_data_and_logins(
    postgres: LocalPostgres,
    store: BackupStore,
    tools: ServerTools,
    cloud: psycopg.Connection,
    make_tenant: TenantFactory,
) -> None:
    org = make_tenant(rows=5)
    failing = dataclasses.replace(tools, pg_dump=Path("/bin/false"))  # a real program that exits 1
    with pytest.raises(PurgeRefused, match="the final backup failed, nothing was dropped"):
        _purge(postgres, store, failing, cloud, org)
    assert _exists(postgres, org) == (True, True)
    with psycopg.connect(postgres.url()) as conn:
        assert conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (naming.role_name(org),)
        ).fetchone() == (True,)
    assert records.tombstone(cloud, org) is None
    assert [r.outcome for r in records.backups_of(cloud, org)] == ["failed"]


def test_ends_the_tenants_sessions(
    postgres: LocalPostgres,
    store: BackupStore,
    tools: ServerTools,
    cloud: psycopg.Connection,
    make_tenant: TenantFactory,
) -> None:
    org = make_tenant(rows=5)
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {naming.role_name(org)} PASSWORD 'tenant-pw-123'")
    session = psycopg.connect(
        postgres.url(naming.database_name(org), user=naming.role_name(org), password="tenant-pw-123")
    )
    try:
        _purge(postgres, store, tools, cloud, org)
        with pytest.raises(psycopg.OperationalError):
            session.execute("SELECT 1")
    finally:
        session.close()
    assert _exists(postgres, org) == (False, False)


def test_refuses_an_org_with_nothing_on_the_server_and_no_record(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, cloud: psycopg.Connection
) -> None:
    with pytest.raises(PurgeRefused, match="nothing to purge"):
        _purge(postgres, store, tools, cloud, 999_992)
