"""`python -m railzway serve` as a process: a dead worker's job is picked up again, SIGTERM finishes or
releases running work, and without the pulumi CLI a deploy fails with a clear reason, fast.

Each test runs real `serve` subprocesses against a database of its own (a killed process must not leave
anything behind for the next test).
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fake_runner import DELAY_ENV, JOURNAL_ENV, read_journal
from service_helpers import TOKEN, ServeProcess

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def process_env(env: dict[str, str], fresh_cloud_db: str, tmp_path: Path) -> dict[str, str]:
    return {
        **env,
        "RAILZWAY_CLOUD_DB_URL": fresh_cloud_db,
        JOURNAL_ENV: str(tmp_path / "journal.jsonl"),
    }


def post(serve: ServeProcess, path: str, body: dict[str, Any] | None = None) -> str:
    response = httpx.post(f"{serve.base_url}{path}", json=body, headers=AUTH, timeout=10)
    assert response.status_code == 202, response.text
    return str(response.json()["request_id"])


def shown(serve: ServeProcess, request_id: str) -> dict[str, Any]:
    response = httpx.get(f"{serve.base_url}/v1/requests/{request_id}", headers=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def state_in_db(url: str, request_id: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT state FROM railzway_requests WHERE id = %s", (request_id,)).fetchone()
    assert row is not None
    return str(row[0])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def test_a_dead_workers_job_is_picked_up_again(
    process_env: dict[str, str], serve_process: Callable[..., ServeProcess], tmp_path: Path
) -> None:
    url = process_env["RAILZWAY_CLOUD_DB_URL"]
    first = serve_process(process_env, {DELAY_ENV: "60"}, name="doomed", fake_runner=True)
    first.wait_ready()
    request_id = post(first, "/v1/orgs/1001/stop")
    wait_for(lambda: state_in_db(url, request_id) == "running", 20, "the first process starts the update")
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)

    second = serve_process(process_env, {DELAY_ENV: "0"}, name="survivor", fake_runner=True)
    second.wait_ready()
    wait_for(lambda: state_in_db(url, request_id) == "succeeded", 30, "the second process completes it")
    result = shown(second, request_id)
    assert result["attempts"] == 2
    assert [(e["state"], e["note"]) for e in result["events"]][2] == ("queued", "its worker stopped responding")
    assert [e["state"] for e in result["events"]] == ["queued", "running", "queued", "running", "succeeded"]
    calls = read_journal(tmp_path / "journal.jsonl")
    assert [(c.orgs, c.pid) for c in calls] == [((1001,), second.process.pid)]


def test_sigterm_lets_a_running_update_finish_then_exits(
    process_env: dict[str, str], serve_process: Callable[..., ServeProcess]
) -> None:
    url = process_env["RAILZWAY_CLOUD_DB_URL"]
    serve = serve_process(
        process_env, {DELAY_ENV: "2", "RAILZWAY_SERVICE_SHUTDOWN_GRACE_SECONDS": "20"}, fake_runner=True
    )
    serve.wait_ready()
    request_id = post(serve, "/v1/orgs/1002/stop")
    wait_for(lambda: state_in_db(url, request_id) == "running", 20, "the update starts")
    started = time.monotonic()
    serve.process.send_signal(signal.SIGTERM)
    assert serve.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 15
    assert state_in_db(url, request_id) == "succeeded"


def test_sigterm_releases_an_update_that_outlasts_the_grace_period(
    process_env: dict[str, str], serve_process: Callable[..., ServeProcess]
) -> None:
    url = process_env["RAILZWAY_CLOUD_DB_URL"]
    serve = serve_process(
        process_env, {DELAY_ENV: "120", "RAILZWAY_SERVICE_SHUTDOWN_GRACE_SECONDS": "1"}, fake_runner=True
    )
    serve.wait_ready()
    request_id = post(serve, "/v1/orgs/2002/stop")
    wait_for(lambda: state_in_db(url, request_id) == "running", 20, "the update starts")
    started = time.monotonic()
    serve.process.send_signal(signal.SIGTERM)
    assert serve.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 10
    assert state_in_db(url, request_id) == "queued"
    with psycopg.connect(url) as conn:
        reason = conn.execute("SELECT reason FROM railzway_requests WHERE id = %s", (request_id,)).fetchone()
    assert reason == ("released: the service is shutting down",)

    after = serve_process(process_env, {DELAY_ENV: "0"}, name="after", fake_runner=True)
    after.wait_ready()
    wait_for(lambda: state_in_db(url, request_id) == "succeeded", 30, "the next process completes it")
    notes = [e["note"] for e in shown(after, request_id)["events"]]
    assert "released: the service is shutting down" in notes


def test_without_the_pulumi_cli_a_deploy_fails_with_a_clear_reason_within_a_minute(
    env: dict[str, str], fresh_cloud_db: str, serve_process: Callable[..., ServeProcess]
) -> None:
    # `railzway serve` itself (the real runner), on a PATH that holds only this Python: no pulumi CLI to find.
    real = {**env, "RAILZWAY_CLOUD_DB_URL": fresh_cloud_db, "PATH": str(Path(sys.executable).parent)}
    serve = serve_process(real, name="no-cli")
    serve.wait_ready()
    started = time.monotonic()
    request_id = post(serve, "/v1/orgs/6001/deploy", {"version": "1.9.0", "tier": "starter"})
    wait_for(lambda: state_in_db(fresh_cloud_db, request_id) == "failed", 60, "the deploy fails")
    assert time.monotonic() - started < 60
    result = shown(serve, request_id)
    assert result["reason"] == "the pulumi CLI is not on PATH"
    assert result["attempts"] == 1
    assert result["finished_at"] is not None
