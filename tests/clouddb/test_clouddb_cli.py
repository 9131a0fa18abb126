"""The commands as an operator runs them: `python -m railzway migrate | sync | rekey` in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from clouddb_data import dump, outputs, tenant
from conftest import CliRunner

from railzway import clouddb
from railzway.clouddb import KeyRing
from tests.conftest import PROJECT


def assert_clean_failure(result: subprocess.CompletedProcess[str], exit_code: int, *fragments: str) -> None:
    assert result.returncode == exit_code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in:\n{result.stderr}"


def test_migrate_command_migrates_an_empty_cloud_db(run_cli: CliRunner, new_database: Callable[[], str]) -> None:
    url = new_database()
    result = run_cli("migrate", env={"RAILZWAY_CLOUD_DB_URL": url})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # The Cloud DB's own migrations come first; the service's schema steps follow.
    assert lines[0] == (
        "cloud-db: applied 000001_create_instances_table, 000002_add_instance_tier, "
        "000003_add_instance_compute_engine_and_subscription, 000004_add_db_credentials, "
        "000005_encrypt_db_password, 000006_add_instance_region_and_source_stack, 000007_create_stack_revisions, "
        "000008_create_tenant_backups_and_purges"
    )
    assert lines[-1] == "version: 8"
    again = run_cli("migrate", env={"RAILZWAY_CLOUD_DB_URL": url}).stdout.splitlines()
    assert again[0] == "cloud-db: up to date"
    assert all(line.endswith(": up to date") for line in again[:-1]), again
    assert again[-1] == "version: 8"


def test_migrate_status_prints_version_and_dirty(run_cli: CliRunner) -> None:
    result = run_cli("migrate", "--status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:3] == ["version: 8", "dirty: false", "latest: 8"]


def test_migrate_refuses_a_dirty_schema_naming_the_version_and_the_fix(
    run_cli: CliRunner, conn: psycopg.Connection
) -> None:
    conn.execute("UPDATE schema_migrations SET dirty = true")
    result = run_cli("migrate")
    assert_clean_failure(
        result, 1, "dirty at version 8 (000008_create_tenant_backups_and_purges", "railzway migrate --force 7"
    )
    assert run_cli("migrate", "--status").stdout.splitlines()[:2] == ["version: 8", "dirty: true"]


def test_migrate_force_clears_the_dirty_flag(run_cli: CliRunner, conn: psycopg.Connection) -> None:
    conn.execute("UPDATE schema_migrations SET dirty = true")
    assert run_cli("migrate", "--force", "8").returncode == 0
    assert conn.execute("SELECT version, dirty FROM schema_migrations").fetchall() == [(8, False)]


def test_sync_from_a_file_prints_the_summary(run_cli: CliRunner, tmp_path: Path, conn: psycopg.Connection) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs(tenant(1001), tenant(1002))))
    result = run_cli("sync", "--outputs", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "synced 2 tenants: 2 inserted, 0 updated, 0 unchanged, 0 absent"
    assert len(dump(conn)) == 2


def test_sync_from_stdin_a_second_time_writes_nothing(run_cli: CliRunner, conn: psycopg.Connection) -> None:
    data = json.dumps(outputs(tenant(1001), tenant(1002)))
    assert run_cli("sync", "--outputs", "-", input=data).returncode == 0
    before = dump(conn)
    result = run_cli("sync", "--outputs", "-", input=data)
    assert result.stdout.strip() == "synced 2 tenants: 0 inserted, 0 updated, 2 unchanged, 0 absent"
    assert dump(conn) == before


MALFORMED: dict[str, tuple[str, list[str]]] = {
    "bad-json": ('{"tenants": {"1001": {"org_id": 1001,', ["not valid JSON", "line 1 column"]),
    "missing-field": (
        json.dumps(outputs(tenant(1001), {k: v for k, v in tenant(1002).items() if k != "db_host"})),
        ["org 1002: db_host: is missing"],
    ),
    "wrong-type": (json.dumps(outputs(tenant(1001, db_port="5432"))), ["org 1001: db_port:"]),
    "empty-password": (
        json.dumps(outputs(tenant(1001), tenant(1003, password=""))),
        ["org 1003: db_password: must not be empty"],
    ),
    "unknown-org-key": (
        json.dumps({"tenants": {"org-1001": tenant(1001)}}),
        ["org org-1001: the key must be the org id, a positive integer"],
    ),
    "key-and-org-id-disagree": (
        json.dumps({"tenants": {"1001": tenant(1002)}}),
        ["org 1001: org_id: does not match its key"],
    ),
    "wrong-status": (json.dumps(outputs(tenant(1001, status="upgrading"))), ["org 1001: status:"]),
    "secrets-not-shown": (
        json.dumps(outputs(tenant(1001, password="[secret]"))),
        ["org 1001: db_password: is the placeholder '[secret]'"],
    ),
    "no-tenants-output": (json.dumps({"other": 1}), ["no `tenants` output"]),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_outputs_change_nothing_and_name_org_and_field(
    case: str, run_cli: CliRunner, conn: psycopg.Connection, keys: KeyRing
) -> None:
    clouddb.sync(conn, outputs(tenant(1001), tenant(1002, version="1.7.0")), keys)
    before = dump(conn)
    text, fragments = MALFORMED[case]
    result = run_cli("sync", "--outputs", "-", input=text)
    assert_clean_failure(result, 1, *fragments)
    assert result.stdout == ""
    assert dump(conn) == before


def test_a_server_error_during_the_upsert_changes_nothing_and_quotes_no_row(
    run_cli: CliRunner, conn: psycopg.Connection, keys: KeyRing
) -> None:
    clouddb.sync(conn, outputs(tenant(1001)), keys)
    # A constraint the sync does not know about fails its upsert on the server, after the COPY; PostgreSQL's
    # DETAIL for it quotes the whole failing row, ciphertext included, so the command must not print it.
    conn.execute("ALTER TABLE instances ADD CONSTRAINT no_growth CHECK (tier <> 'growth')")
    before = dump(conn)
    result = run_cli("sync", "--outputs", "-", input=json.dumps(outputs(tenant(1001), tenant(1002, tier="growth"))))
    assert_clean_failure(
        result,
        1,
        'the Cloud DB refused the sync: new row for relation "instances" violates check constraint '
        '"no_growth" (SQLSTATE 23514); nothing was written',
    )
    assert "Failing row" not in result.stderr
    assert dump(conn) == before


def test_sync_without_the_keys_variable_exits_2(run_cli: CliRunner) -> None:
    result = run_cli("sync", "--outputs", "-", input="{}", env={"RAILZWAY_CREDENTIALS_KEYS": None})
    assert_clean_failure(result, 2, "RAILZWAY_CREDENTIALS_KEYS is not set")


def test_commands_without_the_cloud_db_url_exit_2(run_cli: CliRunner) -> None:
    for args in (("migrate",), ("migrate", "--status"), ("sync", "--outputs", "-"), ("rekey",)):
        result = run_cli(*args, input="{}", env={"RAILZWAY_CLOUD_DB_URL": None})
        assert_clean_failure(result, 2, "RAILZWAY_CLOUD_DB_URL is not set")


def test_an_unreachable_cloud_db_is_one_line_without_the_url(run_cli: CliRunner, postgres: Any) -> None:
    url = f"postgresql://postgres:hunter2-secret@127.0.0.1:{postgres.port}/no_such_database"
    result = run_cli("migrate", env={"RAILZWAY_CLOUD_DB_URL": url})
    assert_clean_failure(result, 2, "cannot connect to the Cloud DB (RAILZWAY_CLOUD_DB_URL)")
    assert "hunter2-secret" not in result.stderr


def test_sync_stack_without_the_pulumi_cli_is_a_clear_error(run_cli: CliRunner) -> None:
    result = run_cli("sync", "--stack", "dev", env={"PATH": os.path.dirname(sys.executable)})
    assert_clean_failure(result, 2, "the pulumi CLI is not on PATH", "--outputs -")


def test_sync_needs_exactly_one_source(run_cli: CliRunner) -> None:
    assert_clean_failure(run_cli("sync"), 2, "exactly one of --outputs FILE and --stack NAME")


def test_rekey_command_prints_its_summary(
    run_cli: CliRunner, conn: psycopg.Connection, keys: KeyRing, key_text: str
) -> None:
    clouddb.sync(conn, outputs(tenant(1001), tenant(1002)), keys)
    new_key = clouddb.generate_key()
    result = run_cli("rekey", env={"RAILZWAY_CREDENTIALS_KEYS": f"{new_key},{key_text}"})
    assert result.returncode == 0, result.stderr
    new_id = clouddb.parse_keys(new_key).primary.key_id
    assert result.stdout.strip() == (
        f"rekey to key {new_id}: 2 re-encrypted, 0 plain-text passwords encrypted, 0 already current"
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_sync_killed_mid_transaction_leaves_no_partial_rows(
    cloud_db: str, conn: psycopg.Connection, keys: KeyRing, key_text: str
) -> None:
    clouddb.sync(conn, outputs(*(tenant(o) for o in range(1001, 1006))), keys)
    before = dump(conn)
    # New 1000 and 1006, upgrades of 1001-1005: applied in org id order, so 1000-1004 are written
    # before the sync reaches 1005, whose row this test holds locked.
    data = outputs(*(tenant(o, version="1.9.0") for o in range(1000, 1007)))
    env = {**os.environ, "RAILZWAY_CLOUD_DB_URL": cloud_db, "RAILZWAY_CREDENTIALS_KEYS": key_text}
    with psycopg.connect(cloud_db) as holder:
        holder.execute("SELECT 1 FROM instances WHERE org_id = 1005 FOR UPDATE")
        proc = subprocess.Popen(
            [sys.executable, "-m", "railzway", "sync", "--outputs", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=PROJECT,
            env=env,
        )
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(data))
            proc.stdin.close()

            def sync_blocked() -> bool:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'railzway sync' "
                    "AND wait_event_type = 'Lock'"
                ).fetchone()
                return bool(row and row[0] == 1)

            wait_for(sync_blocked, "the sync to wait on org 1005's row")
            # The sync has written rows it has not committed: its new org 1000 and its update of 1001 are
            # held by its transaction (another writer would have to wait for them).
            with psycopg.connect(cloud_db, autocommit=True) as probe:
                probe.execute("SET lock_timeout = '200ms'")
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    probe.execute("INSERT INTO instances (org_id) VALUES (1000)")
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    probe.execute("UPDATE instances SET status = status WHERE org_id = 1001")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        holder.rollback()
    assert proc.returncode == -signal.SIGKILL

    def sync_backend_gone() -> bool:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'railzway sync'").fetchone()
        return bool(row and row[0] == 0)

    wait_for(sync_backend_gone, "the killed sync's server process to end")
    assert dump(conn) == before


def test_no_command_output_contains_a_secret(
    run_cli: CliRunner, conn: psycopg.Connection, key_text: str, postgres: Any, tmp_path: Path
) -> None:
    # A fleet large enough to draw the progress bar, a rotation, a rekey, and failures that sit next to
    # passwords: nothing any of them prints may contain a password, a URL, a key or a ciphertext.
    fleet = [tenant(o) for o in range(100_001, 101_201)]
    rotated = tenant(100_001, password="rotated-secret-password-0000001x")
    new_key = clouddb.generate_key()
    runs = [
        run_cli("migrate"),
        run_cli("migrate", "--status"),
        run_cli("sync", "--outputs", "-", input=json.dumps(outputs(*fleet))),
        run_cli("sync", "--outputs", "-", input=json.dumps(outputs(*fleet))),
        run_cli("sync", "--outputs", "-", input=json.dumps(outputs(rotated, *fleet[1:]))),
        run_cli("sync", "--outputs", "-", input=json.dumps(outputs(fleet[0], tenant(100_002, db_port="x")))),
        run_cli("sync", "--outputs", "-", input=json.dumps(outputs(tenant(100_003, db_password=12345678)))),
        run_cli("rekey", env={"RAILZWAY_CREDENTIALS_KEYS": clouddb.generate_key()}),
        run_cli("rekey", env={"RAILZWAY_CREDENTIALS_KEYS": f"{new_key},{key_text}"}),
        run_cli("sync", "--outputs", "-", input="{}", env={"RAILZWAY_CREDENTIALS_KEYS": key_text[:20]}),
    ]
    assert [r.returncode for r in runs] == [0, 0, 0, 0, 0, 1, 1, 1, 0, 2]
    printed = "".join(r.stdout + r.stderr for r in runs)
    ciphertexts = [c for (c,) in conn.execute("SELECT db_password FROM instances").fetchall()]
    secrets = [
        *(t["db_password"] for t in (*fleet, rotated)),
        *(t["database_url"] for t in (*fleet, rotated)),
        "12345678",
        key_text,
        key_text[:20],
        new_key,
        postgres.password,
        *ciphertexts,
    ]
    leaked = [s for s in secrets if s in printed]
    assert leaked == []


def test_sync_stack_says_pulumi_is_missing_before_asking_for_keys(run_cli: CliRunner) -> None:
    # No key, no Cloud DB URL and no pulumi CLI: the cheapest missing piece is named first.
    result = run_cli(
        "sync",
        "--stack",
        "dev",
        env={"PATH": os.path.dirname(sys.executable), "RAILZWAY_CREDENTIALS_KEYS": None, "RAILZWAY_CLOUD_DB_URL": None},
    )
    assert_clean_failure(result, 2, "the pulumi CLI is not on PATH")
    assert "RAILZWAY_CREDENTIALS_KEYS" not in result.stderr
