"""`sync`: one row per tenant, encrypted passwords, idempotent, rotations touch one row, absentees kept."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from clouddb_data import dump, outputs, tenant

from railzway import clouddb
from railzway.clouddb import KeyRing, SchemaOutOfDate, SyncSummary, parse_keys


def row(conn: psycopg.Connection, org_id: int) -> dict[str, object]:
    cur = conn.execute("SELECT * FROM instances WHERE org_id = %s", (org_id,))
    names = [d.name for d in cur.description or ()]
    values = cur.fetchone()
    assert values is not None, f"no row for org {org_id}"
    return dict(zip(names, values, strict=True))


def test_sync_inserts_one_row_per_tenant_with_the_seed_columns_filled(conn: psycopg.Connection, keys: KeyRing) -> None:
    summary = clouddb.sync(
        conn,
        outputs(tenant(1001), tenant(1002, nomad_job_id=None, status="stopped", tier="growth", region="us-east")),
        keys,
    )
    assert summary == SyncSummary(inserted=2, updated=0, unchanged=0, absent=())
    first, second = row(conn, 1001), row(conn, 1002)
    assert {
        k: first[k]
        for k in (
            "nomad_job_id",
            "desired_version",
            "current_version",
            "status",
            "tier",
            "compute_engine",
            "db_host",
            "db_port",
            "db_name",
            "db_user",
            "region",
        )
    } == {
        "nomad_job_id": "railzway-org-1001",
        "desired_version": "1.8.2",
        "current_version": "1.8.2",
        "status": "running",
        "tier": "starter",
        "compute_engine": "nomad",
        "db_host": "tenants-db.eu-west.internal",
        "db_port": 5432,
        "db_name": "railzway_org_1001",
        "db_user": "railzway_user_1001",
        "region": "eu-west",
    }
    assert (second["nomad_job_id"], second["compute_engine"], second["status"], second["tier"]) == (
        None,
        None,
        "stopped",
        "growth",
    )
    assert first["subscription_id"] is None and first["source_stack"] is None
    assert first["created_at"] is not None and first["updated_at"] == first["created_at"]


def test_sync_stores_the_password_encrypted_under_the_first_key(conn: psycopg.Connection, keys: KeyRing) -> None:
    clouddb.sync(conn, outputs(tenant(1001)), keys)
    stored = row(conn, 1001)
    assert stored["db_password"] != tenant(1001)["db_password"]
    assert tenant(1001)["db_password"] not in str(stored)
    assert stored["db_password_key_id"] == keys.primary.key_id
    assert clouddb.credentials(conn, keys)[1001] == (
        "railzway_user_1001",
        tenant(1001)["db_password"],
        "railzway_org_1001",
    )


def test_a_second_identical_sync_writes_nothing(conn: psycopg.Connection, keys: KeyRing) -> None:
    data = outputs(*(tenant(o) for o in (1001, 1002, 1003)))
    clouddb.sync(conn, data, keys)
    before = dump(conn)
    summary = clouddb.sync(conn, data, keys)
    assert summary == SyncSummary(inserted=0, updated=0, unchanged=3, absent=())
    # Same tuple versions (ctid, xmin) and so the same updated_at and ciphertext: nothing was rewritten.
    assert dump(conn) == before


def test_a_password_rotation_rewrites_exactly_that_row(conn: psycopg.Connection, keys: KeyRing) -> None:
    clouddb.sync(conn, outputs(*(tenant(o) for o in (1001, 1002, 1003))), keys)
    before = {r[2]: r for r in dump(conn)}  # keyed by id column (after ctid, xmin)
    rotated = "rotated-password-for-org-1002-xx"
    summary = clouddb.sync(conn, outputs(tenant(1001), tenant(1002, password=rotated), tenant(1003)), keys)
    assert summary == SyncSummary(inserted=0, updated=1, unchanged=2, absent=())
    after = {r[2]: r for r in dump(conn)}
    changed = [key for key in after if after[key] != before[key]]
    assert len(changed) == 1
    assert row(conn, 1002)["updated_at"] != row(conn, 1001)["updated_at"]
    assert clouddb.credentials(conn, keys)[1002].password == rotated


def test_a_changed_version_updates_both_version_columns(conn: psycopg.Connection, keys: KeyRing) -> None:
    clouddb.sync(conn, outputs(tenant(1001)), keys)
    summary = clouddb.sync(conn, outputs(tenant(1001, version="1.9.0")), keys)
    assert (summary.updated, summary.unchanged) == (1, 0)
    assert (row(conn, 1001)["desired_version"], row(conn, 1001)["current_version"]) == ("1.9.0", "1.9.0")


def test_tenants_absent_from_the_outputs_are_kept_and_reported(conn: psycopg.Connection, keys: KeyRing) -> None:
    clouddb.sync(conn, outputs(*(tenant(o) for o in (1001, 1002, 1003))), keys)
    before = dump(conn)
    summary = clouddb.sync(conn, outputs(tenant(1002)), keys)
    assert summary == SyncSummary(inserted=0, updated=0, unchanged=1, absent=(1001, 1003))
    assert dump(conn) == before
    assert "absent from the outputs (kept, never deleted): 1001, 1003" in summary.text()


def test_with_a_stack_only_that_stacks_former_tenants_are_absent(conn: psycopg.Connection, keys: KeyRing) -> None:
    clouddb.sync(conn, outputs(tenant(1001), tenant(1002)), keys, stack="prod-eu-west-00")
    clouddb.sync(conn, outputs(tenant(2001)), keys, stack="prod-eu-west-01")
    summary = clouddb.sync(conn, outputs(tenant(1002)), keys, stack="prod-eu-west-00")
    assert summary.absent == (1001,)
    assert row(conn, 2001)["source_stack"] == "prod-eu-west-01"


def test_a_tenant_moved_to_another_stack_is_an_update(conn: psycopg.Connection, keys: KeyRing) -> None:
    clouddb.sync(conn, outputs(tenant(1001)), keys, stack="prod-eu-west-00")
    summary = clouddb.sync(conn, outputs(tenant(1001)), keys, stack="prod-eu-west-01")
    assert (summary.updated, row(conn, 1001)["source_stack"]) == (1, "prod-eu-west-01")


def test_sync_leaves_the_subscription_and_created_at_alone(conn: psycopg.Connection, keys: KeyRing) -> None:
    clouddb.sync(conn, outputs(tenant(1001)), keys)
    conn.execute("UPDATE instances SET subscription_id = 'sub_42' WHERE org_id = 1001")
    created = row(conn, 1001)["created_at"]
    clouddb.sync(conn, outputs(tenant(1001, status="stopped")), keys)
    assert (row(conn, 1001)["subscription_id"], row(conn, 1001)["created_at"]) == ("sub_42", created)


def test_a_new_first_key_does_not_make_a_sync_rewrite_rows(
    conn: psycopg.Connection, keys: KeyRing, key_text: str
) -> None:
    data = outputs(tenant(1001), tenant(1002))
    clouddb.sync(conn, data, keys)
    before = dump(conn)
    rotated = parse_keys(f"{clouddb.generate_key()},{key_text}")
    assert clouddb.sync(conn, data, rotated).unchanged == 2
    assert dump(conn) == before


def test_sync_takes_over_a_seed_row_and_encrypts_its_plain_password(conn: psycopg.Connection, keys: KeyRing) -> None:
    conn.execute(
        "INSERT INTO instances (org_id, status, tier, subscription_id, db_password) "
        "VALUES (1001, 'upgrading', 'STARTER', 'sub_1', 'seed-plain-text-password-1001xx')"
    )
    summary = clouddb.sync(conn, outputs(tenant(1001)), keys)
    assert (summary.inserted, summary.updated) == (0, 1)
    stored = row(conn, 1001)
    assert (stored["status"], stored["tier"], stored["subscription_id"]) == ("running", "starter", "sub_1")
    assert stored["db_password_key_id"] == keys.primary.key_id


def test_sync_refuses_a_cloud_db_that_is_not_migrated(new_database: Callable[[], str], keys: KeyRing) -> None:
    with (
        psycopg.connect(new_database()) as conn,
        pytest.raises(SchemaOutOfDate, match="the Cloud DB schema has never been migrated"),
    ):
        clouddb.sync(conn, outputs(tenant(1001)), keys)


def test_invalid_outputs_raise_before_the_database_is_touched(conn: psycopg.Connection, keys: KeyRing) -> None:
    clouddb.sync(conn, outputs(tenant(1001)), keys)
    before = dump(conn)
    with pytest.raises(clouddb.OutputsError) as raised:
        clouddb.sync(conn, outputs(tenant(1001, password="x" * 32), tenant(1002, db_port="5432")), keys)
    assert raised.value.problems == ["org 1002: db_port: Input should be a valid integer"]
    assert dump(conn) == before
