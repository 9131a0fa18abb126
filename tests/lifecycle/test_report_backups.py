"""`report` knows each tenant's last backup: flagged when stale, exported to Prometheus."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import psycopg
from lifecycle_kit import CliRunner, TenantFactory, add_tenant_file, admin_url_without_password

from devkit.localpg import LocalPostgres
from railzway.audit.usage import TenantUsage, to_prometheus, with_backups
from railzway.lifecycle.backup_store import BackupStore

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def _row(org_id: int) -> TenantUsage:
    return TenantUsage(org_id, "eu-west", "starter", "running", f"railzway_org_{org_id}", 1, 2, 0, 10)


def test_a_tenant_without_a_backup_or_with_an_old_one_is_stale() -> None:
    last = {1: NOW - dt.timedelta(hours=2), 2: NOW - dt.timedelta(hours=30)}
    rows = with_backups([_row(1), _row(2), _row(3)], last, dt.timedelta(hours=26), NOW)
    assert [(r.org_id, r.backup_stale) for r in rows] == [(1, False), (2, True), (3, True)]
    assert rows[0].last_backup == last[1]


def test_prometheus_exports_the_last_backup_as_unix_seconds() -> None:
    [row] = with_backups([_row(7)], {7: NOW}, dt.timedelta(hours=26), NOW)
    text = to_prometheus([row, _row(8)])
    assert "# TYPE railzway_tenant_last_backup_timestamp_seconds gauge" in text
    assert (
        f'railzway_tenant_last_backup_timestamp_seconds{{org_id="7",region="eu-west",tier="starter"}} {int(NOW.timestamp())}'
        in text
    )
    assert 'railzway_tenant_last_backup_timestamp_seconds{org_id="8"' not in text


def test_report_reads_last_backups_from_the_cloud_db_and_flags_the_others(
    run_cli: CliRunner,
    postgres: LocalPostgres,
    registry_dir: Path,
    store: BackupStore,
    make_tenant: TenantFactory,
    cloud_db: str,
) -> None:
    shutil.rmtree(registry_dir / "orgs")
    (registry_dir / "orgs").mkdir()
    backed, never = make_tenant(rows=3), make_tenant(rows=3)
    add_tenant_file(registry_dir, backed)
    add_tenant_file(registry_dir, never)
    env = {"RAILZWAY_CLOUD_DB_URL": cloud_db}
    admin = ["--admin-url", admin_url_without_password(postgres), "--registry", str(registry_dir)]
    assert run_cli("backup", "--org", str(backed), *admin, "--store", store.url, env=env).returncode == 0
    result = run_cli("report", *admin, "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    tenants = {t["org_id"]: t for t in json.loads(result.stdout)["tenants"]}
    with psycopg.connect(cloud_db) as conn:
        recorded = conn.execute("SELECT finished_at FROM tenant_backups WHERE org_id = %s", (backed,)).fetchone()
    assert recorded is not None
    assert dt.datetime.fromisoformat(tenants[backed]["last_backup"]) == recorded[0]
    assert (tenants[backed]["backup_stale"], tenants[never]["backup_stale"]) == (False, True)
    table = run_cli("report", *admin, env=env).stdout
    # The table has no edge: a tenant's row starts with its org id, and its findings may wrap onto the
    # lines below, which start with spaces.
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [str(never)])
    end = start + 1
    while end < len(lines) and lines[end].startswith(" "):
        end += 1
    never_row = " ".join(" ".join(lines[start:end]).split())
    assert "never" in never_row and "backup stale" in never_row
