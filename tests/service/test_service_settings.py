"""Configuration errors name the variable and never its value; `serve` refuses them without a traceback;
`railzway migrate` prepares the queue's schema."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from service_helpers import PROJECT

from railzway.clouddb import CLOUD_DB, MigrationError, generate_key, migrate
from railzway.service.schema import QUEUE_VERSION_TABLE, SCHEMA_STEPS
from railzway.service.settings import Settings, SettingsError


@pytest.mark.parametrize("missing", ["RAILZWAY_CLOUD_DB_URL", "RAILZWAY_CREDENTIALS_KEYS", "RAILZWAY_API_TOKENS"])
def test_a_missing_variable_is_named(env: dict[str, str], missing: str) -> None:
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env({k: v for k, v in env.items() if k != missing})


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("RAILZWAY_API_TOKENS", "short-one", "token #1 is shorter than 16"),
        ("RAILZWAY_API_TOKENS", " , ", "holds no token"),
        ("RAILZWAY_CREDENTIALS_KEYS", "bm90LWEta2V5", "key #1 is 9 bytes"),
        ("RAILZWAY_CLOUD_DB_URL", "mysql://root:pw@db/cloud", "postgresql://"),
        ("RAILZWAY_REGISTRY_DIR", "/nonexistent/registry", "is not a directory"),
        ("RAILZWAY_SERVICE_CONCURRENCY", "many", "must be an integer"),
        ("RAILZWAY_SERVICE_STALLED_SECONDS", "0.1", "longer than RAILZWAY_SERVICE_HEARTBEAT_SECONDS"),
        ("RAILZWAY_SERVICE_RECOVERY_SECONDS", "7", "must divide 60"),
    ],
)
def test_a_malformed_variable_is_named_without_its_value(
    env: dict[str, str], name: str, value: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**env, name: value})
    assert expected in str(caught.value)
    assert name in str(caught.value)
    secret = value.strip(" ,")
    if secret and ("TOKEN" in name or "KEYS" in name):
        assert secret not in str(caught.value)


def test_settings_collect_every_secret_for_the_log_scrubber(env: dict[str, str]) -> None:
    settings = Settings.from_env({**env, "PGPASSWORD": "pg-admin-secret"})
    for secret in (
        *env["RAILZWAY_API_TOKENS"].split(","),
        env["RAILZWAY_CREDENTIALS_KEYS"],
        env["PULUMI_CONFIG_PASSPHRASE"],
        "pg-admin-secret",
    ):
        assert secret in settings.secrets
    shown = repr(settings)
    assert not [secret for secret in settings.secrets if secret in shown]


def serve_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "railzway", "serve", *args],
        cwd=PROJECT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_refuses_a_missing_variable_in_one_line(env: dict[str, str]) -> None:
    result = serve_cli({**env, "RAILZWAY_API_TOKENS": ""}, "--port", "1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: RAILZWAY_API_TOKENS is not set: comma-separated bearer tokens the control plane sends"
    ]


def test_serve_runs_no_code_that_the_environment_names(env: dict[str, str], tmp_path: Path) -> None:
    # RAILZWAY_RUNNER once loaded a Python file as the engine while the service was built, before it
    # listened; the engine is now given in code only (`Service(runner=...)`). Built, then stopped by a taken
    # port, the service has not run the planted file.
    ran = tmp_path / "ran"
    planted = tmp_path / "planted.py"
    planted.write_text(f"import pathlib\npathlib.Path({str(ran)!r}).touch()\nfactory = print\n")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = serve_cli({**env, "RAILZWAY_RUNNER": f"{planted}:factory"}, "--port", str(port))
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert not ran.exists()


def test_serve_refuses_a_taken_port(env: dict[str, str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = serve_cli(env, "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot listen on 127.0.0.1:{port}")


def test_migrate_prepares_the_queue_and_the_request_tables(new_database: Callable[[], str]) -> None:
    url = new_database()
    environment = {**os.environ, "RAILZWAY_CLOUD_DB_URL": url, "RAILZWAY_CREDENTIALS_KEYS": generate_key()}
    first = subprocess.run(
        [sys.executable, "-m", "railzway", "migrate"], cwd=PROJECT, env=environment, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    assert "queue: applied procrastinate" in first.stdout
    assert "service: applied 000001_create_requests" in first.stdout
    again = subprocess.run(
        [sys.executable, "-m", "railzway", "migrate"], cwd=PROJECT, env=environment, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert "queue: up to date" in again.stdout
    assert "service: up to date" in again.stdout
    with psycopg.connect(url) as conn:
        for table in ("procrastinate_jobs", "procrastinate_workers", "railzway_requests", "railzway_request_events"):
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
            assert row == (True,), table


def test_migrate_refuses_a_queue_schema_of_another_procrastinate_version(new_database: Callable[[], str]) -> None:
    url = new_database()
    with psycopg.connect(url) as conn:
        migrate(conn, (CLOUD_DB, *SCHEMA_STEPS))
        conn.execute(f"UPDATE {QUEUE_VERSION_TABLE} SET version = '2.15.0'")
        conn.commit()
        with pytest.raises(MigrationError, match=r"procrastinate 2\.15\.0's schema"):
            migrate(conn, (CLOUD_DB, *SCHEMA_STEPS))


def test_serve_reports_every_bad_setting_in_one_run(railzway_command: Path, env: dict[str, str]) -> None:
    broken = {
        **{k: v for k, v in env.items() if k not in ("RAILZWAY_CLOUD_DB_URL", "RAILZWAY_CREDENTIALS_KEYS")},
        "RAILZWAY_API_TOKENS": "short-one",
        "RAILZWAY_SERVICE_CONCURRENCY": "many",
    }
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("RAILZWAY_", "PG"))}
    result = subprocess.run(
        [str(railzway_command), "serve", "--port", "1"],
        cwd=PROJECT,
        env={**environment, **broken},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert [line.split()[1].rstrip(":") for line in lines] == [
        "RAILZWAY_CLOUD_DB_URL",
        "RAILZWAY_CREDENTIALS_KEYS",
        "RAILZWAY_API_TOKENS",
        "RAILZWAY_SERVICE_CONCURRENCY",
    ]
    assert all(line.startswith("error: ") for line in lines)
    assert "short-one" not in result.stderr


def test_every_problem_is_in_the_settings_error(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {**env, "RAILZWAY_API_TOKENS": "short-one,also-short", "RAILZWAY_REGISTRY_DIR": "/nonexistent"}
        )
    assert caught.value.problems == [
        "RAILZWAY_API_TOKENS: token #1 is shorter than 16 characters (make one with `openssl rand -hex 32`)",
        "RAILZWAY_API_TOKENS: token #2 is shorter than 16 characters (make one with `openssl rand -hex 32`)",
        "RAILZWAY_REGISTRY_DIR: /nonexistent is not a directory (the tenants registry)",
    ]


@pytest.mark.parametrize("url", [None, "mysql://root@db/cloud"], ids=["missing", "not-postgresql"])
def test_the_cloud_db_url_hint_keeps_the_password_in_pgpassword(env: dict[str, str], url: str | None) -> None:
    environment = {k: v for k, v in env.items() if k != "RAILZWAY_CLOUD_DB_URL"}
    if url is not None:
        environment["RAILZWAY_CLOUD_DB_URL"] = url
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environment)
    message = str(caught.value)
    assert "postgresql://USER@HOST:5432/DATABASE, with the password in PGPASSWORD" in message
    assert ":pw@" not in message and "password@" not in message
