"""Backups of real tenant databases into a real file:// store, restored into new databases on the same server."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import psycopg
import pytest
from lifecycle_kit import TenantFactory

from devkit.localpg import LocalPostgres
from railzway.admin import session_rules as admin_rules
from railzway.admin.into_tenant import connect_tenant, tenant_conninfo
from railzway.lifecycle.backup import BackupFailed, ServerTools, backup_tenant
from railzway.lifecycle.backup_store import BackupStore
from railzway.lifecycle.restore import RESTORE_ROLE, RestoreFailed, newest_backup, restore_into
from railzway.lifecycle.verify import verify_tenant
from railzway.registry import naming


def _rows(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, customer, cents FROM billing.invoices ORDER BY id").fetchall()


def _path(store: BackupStore, key: str) -> Path:
    return Path(store.url.removeprefix("file://")) / key


def test_backup_writes_the_dump_under_region_org_and_utc_time(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, make_tenant: TenantFactory
) -> None:
    org = make_tenant()
    manifest = backup_tenant(postgres.url(), store, tools, org, "eu-west")
    assert re.fullmatch(rf"eu-west/{org}/\d{{8}}T\d{{6}}\.\d{{3}}Z\.dump", manifest.dump)
    assert _path(store, manifest.dump).read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format


def test_manifest_records_size_checksum_server_and_tool(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=2000)
    manifest = backup_tenant(postgres.url(), store, tools, org, "eu-west")
    dump = _path(store, manifest.dump).read_bytes()
    written = json.loads(_path(store, manifest.dump.replace(".dump", ".json")).read_text())
    assert written["sha256"] == hashlib.sha256(dump).hexdigest()
    assert written["size_bytes"] == len(dump)
    assert written["org_id"] == org
    assert written["database"] == naming.database_name(org)
    assert written["server_version"] == tools.version
    assert written["server_version"].split(".")[0] == str(tools.major)
    assert written["tool_version"].startswith("railzway ")
    assert written["started_at"] <= written["finished_at"]
    assert written["final"] is False


def test_restore_into_a_new_database_gives_the_same_rows(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=1500)
    manifest = backup_tenant(postgres.url(), store, tools, org, "eu-west")
    restore_into(postgres.url(), store, tools, manifest.dump, f"restored_{org}")
    try:
        restored = _rows(postgres.url(f"restored_{org}"))
        assert len(restored) == 1500
        assert restored == _rows(postgres.url(naming.database_name(org)))
    finally:
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS restored_{org}")


def test_restored_database_is_owned_by_the_restore_role_with_public_revoked(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=10)
    manifest = backup_tenant(postgres.url(), store, tools, org, "eu-west")
    restore_into(postgres.url(), store, tools, manifest.dump, f"restored_{org}")
    try:
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            owner, public = conn.execute(
                """
                SELECT pg_get_userbyid(datdba),
                       ARRAY(SELECT privilege_type FROM aclexplode(datacl) WHERE grantee = 0)
                FROM pg_database WHERE datname = %s
                """,
                (f"restored_{org}",),
            ).fetchone() or (None, None)
            superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (RESTORE_ROLE,)).fetchone()
        assert owner == RESTORE_ROLE
        assert public == []
        assert superuser == (False,)
    finally:
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS restored_{org}")


def test_restore_refuses_a_tenant_database_name(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=1)
    manifest = backup_tenant(postgres.url(), store, tools, org, "eu-west")
    with pytest.raises(RestoreFailed, match="never writes over a live tenant"):
        restore_into(postgres.url(), store, tools, manifest.dump, naming.database_name(org))


def test_restore_refuses_an_existing_database(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=1)
    manifest = backup_tenant(postgres.url(), store, tools, org, "eu-west")
    with pytest.raises(RestoreFailed, match="already exists"):
        restore_into(postgres.url(), store, tools, manifest.dump, "postgres")


def test_restore_refuses_a_dump_whose_checksum_differs_and_drops_the_new_database(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=10)
    manifest = backup_tenant(postgres.url(), store, tools, org, "eu-west")
    manifest_path = _path(store, manifest.dump.replace(".dump", ".json"))
    manifest_path.write_bytes(manifest.model_copy(update={"sha256": "0" * 64}).to_json())
    with pytest.raises(RestoreFailed, match="does not match its manifest"):
        restore_into(postgres.url(), store, tools, manifest.dump, f"restored_{org}")
    with psycopg.connect(postgres.url()) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (f"restored_{org}",)).fetchone() is None


def test_verify_passes_on_a_good_backup(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=300)
    manifest = backup_tenant(postgres.url(), store, tools, org, "eu-west")
    result = verify_tenant(postgres.url(), store, tools, org, "eu-west")
    assert result.problems == []
    assert result.backup == store.url_of(manifest.dump)
    assert result.ok


def test_verify_fails_on_a_truncated_backup_and_drops_its_scratch_database(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=5000)
    manifest = backup_tenant(postgres.url(), store, tools, org, "eu-west")
    dump = _path(store, manifest.dump)
    dump.write_bytes(dump.read_bytes()[: manifest.size_bytes // 2])
    result = verify_tenant(postgres.url(), store, tools, org, "eu-west")
    assert not result.ok
    assert "pg_restore exited 1" in result.problems[0]
    with psycopg.connect(postgres.url()) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"railzway_verify_{org}_%",))
        assert left.fetchall() == []


def test_verify_reports_rows_written_after_the_backup(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=20)
    backup_tenant(postgres.url(), store, tools, org, "eu-west")
    with connect_tenant(postgres.url(), naming.database_name(org), "test") as conn:
        conn.execute("INSERT INTO billing.invoices VALUES (999999, 'late', 1)")
    result = verify_tenant(postgres.url(), store, tools, org, "eu-west")
    assert result.problems == ["table billing.invoices: live 21 rows, restored 20 rows"]


def test_admin_connections_pin_the_search_path_whatever_the_tenant_set(
    postgres: LocalPostgres, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=1)
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {naming.database_name(org)} SET search_path = billing, public, pg_catalog")
    with connect_tenant(postgres.url(), naming.database_name(org), "test") as conn:
        assert conn.execute("SHOW search_path").fetchone() == ("pg_catalog,pg_temp",)


def test_pg_tools_get_the_pinned_options_and_no_password_on_their_command_line(postgres: LocalPostgres) -> None:
    conninfo, env = tenant_conninfo(postgres.url(), "railzway_org_1")
    assert postgres.password not in conninfo
    assert env["PGPASSWORD"] == postgres.password
    assert env["PGOPTIONS"] == admin_rules.session_options()
    assert "search_path=pg_catalog,pg_temp" in conninfo


def test_backup_of_a_hostile_database_with_a_planted_search_path_restores_the_same_rows(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=50)
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {naming.database_name(org)} SET search_path = billing, public")
    manifest = backup_tenant(postgres.url(), store, tools, org, "eu-west")
    restore_into(postgres.url(), store, tools, manifest.dump, f"restored_{org}")
    try:
        assert _rows(postgres.url(f"restored_{org}")) == _rows(postgres.url(naming.database_name(org)))
    finally:
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS restored_{org}")


def test_a_failed_backup_names_the_reason_and_leaves_no_object(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools
) -> None:
    with pytest.raises(BackupFailed, match='database "railzway_org_999991" does not exist'):
        backup_tenant(postgres.url(), store, tools, 999_991, "eu-west")
    assert store.backups() == []
    assert not Path(store.url.removeprefix("file://"), "eu-west", "999991").exists() or not any(
        Path(store.url.removeprefix("file://"), "eu-west", "999991").iterdir()
    )


def test_at_picks_the_newest_backup_taken_at_or_before_that_time(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=1)
    monday = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)
    ticks = iter([monday, monday, monday + dt.timedelta(days=1), monday + dt.timedelta(days=1)])
    first = backup_tenant(postgres.url(), store, tools, org, "eu-west", clock=lambda: next(ticks))
    second = backup_tenant(postgres.url(), store, tools, org, "eu-west", clock=lambda: next(ticks))
    assert newest_backup(store, org, "eu-west", monday + dt.timedelta(hours=12)).key == first.dump
    assert newest_backup(store, org, "eu-west").key == second.dump
    with pytest.raises(RestoreFailed, match="no finished backup taken at or before"):
        newest_backup(store, org, "eu-west", monday - dt.timedelta(days=1))
