"""`sync_tenants(..., partial=True)`: a part of a stack (one tenant's hook) through the same sync, per-row locks."""

from __future__ import annotations

import psycopg
import pytest
from clouddb_data import dump, outputs, tenant

from railzway import clouddb
from railzway.clouddb import KeyRing, SyncSummary, parse_outputs, sync_tenants
from railzway.clouddb.sync import WRITE_LOCK

STACK = "prod-eu-west-01"
COMPARED = (
    "org_id, nomad_job_id, desired_version, current_version, status, tier, compute_engine, db_host, db_port, "
    "db_name, db_user, db_password_key_id, db_password_fingerprint, region, source_stack"
)


def rows(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return conn.execute(f"SELECT {COMPARED} FROM instances ORDER BY org_id").fetchall()


def test_a_partial_sync_writes_the_row_a_full_sync_writes(conn: psycopg.Connection, keys: KeyRing) -> None:
    # 30 tenants: the full sync COPYs them through a temporary table, each partial one is a VALUES row.
    many = [tenant(1001 + i) for i in range(29)]
    tenants = parse_outputs(outputs(*many, tenant(1100, nomad_job_id=None, status="stopped")))
    for one in tenants:
        sync_tenants(conn, [one], keys, stack=STACK, partial=True)
    written_one_by_one = rows(conn)
    conn.execute("DELETE FROM instances")
    sync_tenants(conn, tenants, keys, stack=STACK)
    assert rows(conn) == written_one_by_one
    assert len(written_one_by_one) == 30
    assert clouddb.credentials(conn, keys)[1100].password == tenant(1100)["db_password"]


def test_a_full_sync_after_the_partial_ones_writes_nothing(conn: psycopg.Connection, keys: KeyRing) -> None:
    both = outputs(tenant(1001), tenant(1002))
    for one in parse_outputs(both):
        sync_tenants(conn, [one], keys, stack=STACK, partial=True)
    before = dump(conn)
    assert clouddb.sync(conn, both, keys, stack=STACK) == SyncSummary(inserted=0, updated=0, unchanged=2)
    assert dump(conn) == before


def test_a_partial_sync_reports_no_absent_tenant(conn: psycopg.Connection, keys: KeyRing) -> None:
    clouddb.sync(conn, outputs(tenant(1001), tenant(1002)), keys, stack=STACK)
    summary = sync_tenants(
        conn, parse_outputs(outputs(tenant(1001, password="p" * 32))), keys, stack=STACK, partial=True
    )
    assert summary == SyncSummary(inserted=0, updated=1, unchanged=0, absent=())


def test_partial_syncs_of_two_rows_do_not_wait_for_each_other(cloud_db: str, keys: KeyRing) -> None:
    with psycopg.connect(cloud_db) as holder, psycopg.connect(cloud_db) as other:
        with holder.transaction():
            sync_tenants(holder, parse_outputs(outputs(tenant(1001))), keys, stack=STACK, partial=True)
            # org 1001's row lock is held until `holder` commits; org 1002 goes through at once.
            summary = sync_tenants(
                other, parse_outputs(outputs(tenant(1002))), keys, stack=STACK, partial=True, lock_timeout_ms=500
            )
            assert summary.inserted == 1


def test_a_partial_sync_of_a_row_being_written_waits_for_it(cloud_db: str, keys: KeyRing) -> None:
    with psycopg.connect(cloud_db) as holder, psycopg.connect(cloud_db) as other:
        with holder.transaction():
            sync_tenants(holder, parse_outputs(outputs(tenant(1001))), keys, stack=STACK, partial=True)
            with pytest.raises(psycopg.errors.LockNotAvailable):
                sync_tenants(
                    other, parse_outputs(outputs(tenant(1001))), keys, stack=STACK, partial=True, lock_timeout_ms=300
                )


def test_a_full_sync_or_rekey_excludes_the_partial_ones(cloud_db: str, keys: KeyRing) -> None:
    with psycopg.connect(cloud_db) as rekeying, psycopg.connect(cloud_db) as hook:
        with rekeying.transaction():
            rekeying.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            with pytest.raises(psycopg.errors.LockNotAvailable):
                sync_tenants(
                    hook, parse_outputs(outputs(tenant(1001))), keys, stack=STACK, partial=True, lock_timeout_ms=300
                )
