"""Reliability: 1,000 requests, the service SIGKILLed half way through, started again; none is lost.

A client submits 1,000 requests (new tenants, version changes, stops, starts, password rotations) from
eight threads, each with its own Idempotency-Key, as a control plane would. When about half are accepted
and an update is running, `serve` is killed with SIGKILL; the client keeps retrying what failed with the
same keys until a new `serve` answers. Then:

- exactly 1,000 requests exist, one per key (a retry never made a second one);
- every one reached a final state, and exactly one final state (the events table records each
  transition; the update that the kill interrupted was handed back and applied again);
- the Cloud DB ends up with every tenant exactly as the registry declares it, so the last change of every
  org was applied and synced.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
from fake_runner import DELAY_ENV, JOURNAL_ENV, read_journal
from service_helpers import TOKEN, ServeProcess

from railzway.registry.loader import load_registry

TOTAL = 1000
NEW_ORGS = list(range(9001, 9061))  # 60 sign-ups, then changes to them and to the shipped tenants
SHIPPED = [1001, 1002, 1003, 1004, 2001, 2002]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def plan_requests(seed: int = 7) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(key, path, body) for every request: sign-ups first, then random changes to existing orgs."""
    rng = random.Random(seed)
    planned: list[tuple[str, str, dict[str, Any] | None]] = []
    for org in NEW_ORGS:
        region = rng.choice(["eu-west", "us-east"])
        planned.append(("", f"/v1/orgs/{org}/deploy", {"version": "1.0.0", "tier": "starter", "region": region}))
    orgs = SHIPPED + NEW_ORGS
    while len(planned) < TOTAL:
        org = rng.choice(orgs)
        action = rng.choice(["deploy", "stop", "start", "rotate-password"])
        tier = rng.choice(["starter", "growth"])
        body = {"version": f"1.{rng.randrange(10)}.{len(planned)}", "tier": tier} if action == "deploy" else None
        planned.append(("", f"/v1/orgs/{org}/{action}", body))
    return [(f"reliability-{i:04d}", path, body) for i, (_, path, body) in enumerate(planned)]


class Client:
    """Submits requests to whichever `serve` is current, retrying each with its key until accepted."""

    def __init__(self) -> None:
        self.base_url = ""
        self.accepted: dict[str, str] = {}
        self.connection_failures = 0
        self._lock = threading.Lock()

    def submit(self, key: str, path: str, body: dict[str, Any] | None) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                response = httpx.post(
                    f"{self.base_url}{path}", json=body, headers={**AUTH, "Idempotency-Key": key}, timeout=10
                )
            except httpx.HTTPError:
                with self._lock:
                    self.connection_failures += 1
                time.sleep(0.2)
                continue
            if response.status_code == 503:  # the Cloud DB hiccuped: nothing changed, retry
                time.sleep(0.2)
                continue
            assert response.status_code == 202, (key, path, response.status_code, response.text)
            with self._lock:
                self.accepted[key] = response.json()["request_id"]
            return
        raise AssertionError(f"{key} was never accepted")


def test_a_thousand_requests_survive_a_sigkill_and_each_ends_exactly_once(
    env: dict[str, str],
    fresh_cloud_db: str,
    registry_dir: Path,
    serve_process: Callable[..., ServeProcess],
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.jsonl"
    process_env = {
        **env,
        "RAILZWAY_CLOUD_DB_URL": fresh_cloud_db,
        JOURNAL_ENV: str(journal),
        DELAY_ENV: "0.15",
    }
    client = Client()
    first = serve_process(process_env, name="killed", fake_runner=True)
    first.wait_ready()
    client.base_url = first.base_url
    planned = plan_requests()

    with ThreadPoolExecutor(max_workers=8) as pool:
        # Sign-ups first: a change to an org must not race ahead of the org's creation.
        signups, changes = planned[: len(NEW_ORGS)], planned[len(NEW_ORGS) :]
        list(pool.map(lambda request: client.submit(*request), signups))
        futures = [pool.submit(client.submit, *request) for request in changes]
        wait_for(lambda: len(client.accepted) >= TOTAL // 2, 120, "half the requests accepted")
        wait_for(lambda: count(fresh_cloud_db, "state = 'running'") > 0, 30, "an update running")
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
        accepted_before_restart = len(client.accepted)
        second = serve_process(process_env, name="restarted", fake_runner=True)
        second.wait_ready()
        client.base_url = second.base_url
        for future in futures:
            future.result()

    assert accepted_before_restart < TOTAL, "the kill came after every request was in: nothing was tested"
    assert client.connection_failures > 0, "no submission was interrupted by the kill"
    wait_for(lambda: count(fresh_cloud_db, "state IN ('queued', 'running')") == 0, 120, "every request final")

    with psycopg.connect(fresh_cloud_db) as conn:
        requests = conn.execute("SELECT id::text, idempotency_key, state FROM railzway_requests").fetchall()
        finals = conn.execute(
            "SELECT request_id::text, count(*) FROM railzway_request_events "
            "WHERE state IN ('succeeded', 'failed') GROUP BY request_id"
        ).fetchall()
        last_events = conn.execute(
            "SELECT DISTINCT ON (request_id) request_id::text, state FROM railzway_request_events "
            "ORDER BY request_id, id DESC"
        ).fetchall()
        handed_back = conn.execute(
            "SELECT count(*) FROM railzway_request_events WHERE note = 'its worker stopped responding'"
        ).fetchone()
        synced = conn.execute("SELECT org_id, status, tier, current_version FROM instances").fetchall()

    # One request per key, and every key's request is the one the client was given.
    assert len(requests) == TOTAL
    assert {key: request_id for request_id, key, _ in requests} == client.accepted
    # Every request final, exactly once, and nothing happened to it after that.
    assert {state for _, _, state in requests} == {"succeeded"}
    assert sorted(finals) == sorted((request_id, 1) for request_id, _, _ in requests)
    assert {state for _, state in last_events} == {"succeeded"}
    # The kill interrupted an update, whose requests were handed back and applied again.
    assert handed_back is not None and handed_back[0] > 0
    assert len({call.pid for call in read_journal(journal)}) == 2
    # The last change of every org reached the Cloud DB.
    registry = load_registry(registry_dir)
    declared = {
        (t.org_id, t.status, t.tier, t.version) for t in registry.tenants.values() if t.org_id in SHIPPED + NEW_ORGS
    }
    assert {tuple(row) for row in synced} == declared


def count(url: str, where: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM railzway_requests WHERE {where}").fetchone()
    assert row is not None
    return int(row[0])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)
