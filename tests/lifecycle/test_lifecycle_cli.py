"""`railzway backup`, `restore` and `purge` as an operator runs them: subprocesses, real server, real store."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from lifecycle_kit import CliRunner, TenantFactory, add_tenant_file, admin_url_without_password

from devkit.localpg import LocalPostgres
from railzway.lifecycle.backup_store import BackupStore


@pytest.fixture
def registry(registry_dir: Path) -> Path:
    """The shipped registry's tiers and regions with no tenant: each test adds its own."""
    shutil.rmtree(registry_dir / "orgs")
    (registry_dir / "orgs").mkdir()
    return registry_dir


@pytest.fixture
def tenant(make_tenant: TenantFactory, registry: Path) -> Callable[..., int]:
    def make(region: str = "eu-west", rows: int = 25) -> int:
        org = make_tenant(rows=rows)
        add_tenant_file(registry, org, region)
        return org

    return make


def _common(postgres: LocalPostgres, registry: Path, store: BackupStore) -> list[str]:
    return ["--admin-url", admin_url_without_password(postgres), "--registry", str(registry), "--store", store.url]


def test_backup_of_one_tenant_exits_0_with_a_summary_and_records_it(
    run_cli: CliRunner,
    postgres: LocalPostgres,
    registry: Path,
    store: BackupStore,
    tenant: Callable[..., int],
    cloud_db: str,
    cloud: psycopg.Connection,
) -> None:
    org = tenant()
    result = run_cli(
        "backup", "--org", str(org), *_common(postgres, registry, store), env={"RAILZWAY_CLOUD_DB_URL": cloud_db}
    )
    assert result.returncode == 0, result.stderr
    [backup] = store.backups()
    assert backup.key in result.stdout
    row = cloud.execute("SELECT outcome, url, final FROM tenant_backups WHERE org_id = %s", (org,)).fetchone()
    assert row == ("succeeded", store.url_of(backup.key), False)
    assert postgres.password not in result.stdout + result.stderr


def test_backup_all_exits_1_naming_each_failed_tenant(
    run_cli: CliRunner, postgres: LocalPostgres, registry: Path, store: BackupStore, tenant: Callable[..., int]
) -> None:
    good = tenant("us-east")
    add_tenant_file(registry, 999_993, "us-east")  # in the registry, no database on the server
    add_tenant_file(registry, 999_994, "us-east")
    elsewhere = tenant("eu-west")
    result = run_cli("backup", "--all", "--region", "us-east", *_common(postgres, registry, store))
    assert result.returncode == 1
    assert "backup failed for 2 of 3 tenant(s): org 999993:" in result.stderr
    assert "org 999994:" in result.stderr
    assert [b.org_id for b in store.backups()] == [good]
    assert elsewhere not in [b.org_id for b in store.backups()]


def test_backup_needs_org_or_all(
    run_cli: CliRunner, postgres: LocalPostgres, registry: Path, store: BackupStore
) -> None:
    result = run_cli("backup", *_common(postgres, registry, store))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: choose the tenants: --org ID (repeatable) or --all"


def test_backup_without_a_store_says_how_to_name_one(
    run_cli: CliRunner, postgres: LocalPostgres, registry: Path
) -> None:
    result = run_cli(
        "backup", "--all", "--admin-url", admin_url_without_password(postgres), "--registry", str(registry)
    )
    assert result.returncode == 2
    assert "pass --store URL or set RAILZWAY_BACKUP_URL" in result.stderr


def test_store_defaults_to_the_environment(
    run_cli: CliRunner, postgres: LocalPostgres, registry: Path, store: BackupStore, tenant: Callable[..., int]
) -> None:
    org = tenant()
    args = ["--admin-url", admin_url_without_password(postgres), "--registry", str(registry)]
    result = run_cli("backup", "--org", str(org), *args, env={"RAILZWAY_BACKUP_URL": store.url})
    assert result.returncode == 0, result.stderr
    assert [b.org_id for b in store.backups()] == [org]


def test_keep_daily_prunes_after_the_run(
    run_cli: CliRunner, postgres: LocalPostgres, registry: Path, store: BackupStore, tenant: Callable[..., int]
) -> None:
    org = tenant()
    for _ in range(3):
        result = run_cli("backup", "--org", str(org), "--keep-daily", "1", *_common(postgres, registry, store))
        assert result.returncode == 0, result.stderr
    assert len(store.backups()) == 1
    assert "retention: pruned 1 backup(s)" in result.stdout


def test_restore_into_a_new_database_then_verify(
    run_cli: CliRunner, postgres: LocalPostgres, registry: Path, store: BackupStore, tenant: Callable[..., int]
) -> None:
    org = tenant(rows=60)
    assert run_cli("backup", "--org", str(org), *_common(postgres, registry, store)).returncode == 0
    restored = run_cli(
        "restore", "--org", str(org), "--into", f"cli_restored_{org}", *_common(postgres, registry, store)
    )
    try:
        assert restored.returncode == 0, restored.stderr
        assert f"into database cli_restored_{org}" in restored.stdout
        with psycopg.connect(postgres.url(f"cli_restored_{org}")) as conn:
            assert conn.execute("SELECT count(*) FROM billing.invoices").fetchone() == (60,)
    finally:
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS cli_restored_{org}")
    verified = run_cli("restore", "--verify", *_common(postgres, registry, store))
    assert verified.returncode == 0, verified.stderr
    assert "restores, same rows and schema" in verified.stdout


def test_verify_exits_1_naming_a_tenant_whose_backup_is_truncated(
    run_cli: CliRunner, postgres: LocalPostgres, registry: Path, store: BackupStore, tenant: Callable[..., int]
) -> None:
    org = tenant(rows=3000)
    assert run_cli("backup", "--org", str(org), *_common(postgres, registry, store)).returncode == 0
    [backup] = store.backups()
    dump = Path(store.url.removeprefix("file://"), backup.key)
    dump.write_bytes(dump.read_bytes()[:-100])
    result = run_cli("restore", "--verify", *_common(postgres, registry, store))
    assert result.returncode == 1
    assert f"verify failed for 1 of 1 tenant(s): org {org}: restoring" in result.stderr


def test_purge_refuses_a_tenant_in_the_registry_and_changes_nothing(
    run_cli: CliRunner, postgres: LocalPostgres, registry: Path, store: BackupStore, tenant: Callable[..., int]
) -> None:
    org = tenant()
    result = run_cli("purge", "--org", str(org), "--confirm", str(org), *_common(postgres, registry, store))
    assert result.returncode == 1
    assert f"purge refused: org {org} is in the registry" in result.stderr
    assert store.backups() == []
    with psycopg.connect(postgres.url()) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (f"railzway_org_{org}",)).fetchone()


def test_purge_refuses_without_a_matching_confirm(
    run_cli: CliRunner, postgres: LocalPostgres, registry: Path, store: BackupStore
) -> None:
    result = run_cli("purge", "--org", "4242", "--confirm", "4243", *_common(postgres, registry, store))
    assert result.returncode == 1
    assert "--confirm 4243 does not repeat --org 4242" in result.stderr


def test_restore_refuses_a_backup_of_another_org(
    run_cli: CliRunner, postgres: LocalPostgres, registry: Path, store: BackupStore, tenant: Callable[..., int]
) -> None:
    org, other = tenant(), tenant()
    assert run_cli("backup", "--org", str(other), *_common(postgres, registry, store)).returncode == 0
    [backup] = store.backups()
    result = run_cli(
        "restore",
        "--org",
        str(org),
        "--backup",
        store.url_of(backup.key),
        "--into",
        f"wrong_{org}",
        *_common(postgres, registry, store),
    )
    assert result.returncode == 1
    assert f"is a backup of org {other}, not of org {org}" in result.stderr
    with psycopg.connect(postgres.url()) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (f"wrong_{org}",)).fetchone() is None
