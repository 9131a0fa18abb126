"""The queue with real procrastinate workers on a real Cloud DB: batching, one update per stack at a time,
retries with backoff (bounded), the Cloud DB sync after an update, and scheduled downgrades.

The engine is the fake runner (`fake_runner.FakeStacks`), which reads the registry as the program does.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fake_runner import FakeStacks, password_of
from service_helpers import async_client, wait_until_final

from railzway.registry.loader import load_registry
from railzway.registry.model import ScheduledDowngrade
from railzway.registry.tenant_files import write_tenant
from railzway.service.core import Service
from railzway.service.queue import APPLY_DUE_DOWNGRADES, PRUNE_JOBS, RECONCILE, RECOVER
from railzway.service.settings import Settings

pytestmark = pytest.mark.anyio

# The shipped registry in the test environment: stack test-eu-west-00 holds 1001, 1002 (and 1005, terminated).
STACK_EU0 = "test-eu-west-00"


@contextlib.asynccontextmanager
async def workers(*services: Service) -> AsyncIterator[None]:
    """Run the services' workers for the duration of the block, then stop them as SIGTERM would."""
    tasks = [asyncio.create_task(s.run_workers()) for s in services]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def submit(service: Service, org: int, action: str, body: dict[str, Any] | None = None) -> str:
    async with async_client(service) as http:
        response = await http.post(f"/v1/orgs/{org}/{action}", json=body)
    assert response.status_code == 202, response.json()
    return str(response.json()["request_id"])


async def request(service: Service, request_id: str) -> dict[str, Any]:
    async with async_client(service) as http:
        response = await http.get(f"/v1/requests/{request_id}")
    assert response.status_code == 200
    return dict(response.json())


def instance(url: str, org_id: int) -> dict[str, Any] | None:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("SELECT status, tier, current_version, source_stack FROM instances WHERE org_id = %s", (org_id,))
        return cur.fetchone()


async def test_requests_queued_for_one_stack_are_applied_by_one_update(
    running: Service, fake: FakeStacks, cloud_db: str
) -> None:
    ids = [
        await submit(running, 1001, "stop"),
        await submit(running, 1002, "deploy", {"version": "1.9.0", "tier": "growth"}),
        await submit(running, 1001, "rotate-password"),
    ]
    async with workers(running):
        states = await wait_until_final(cloud_db, ids)
    assert set(states.values()) == {"succeeded"}
    assert [(c.stack, c.orgs) for c in fake.calls] == [(STACK_EU0, (1001, 1002))]
    shown = await request(running, ids[1])
    assert shown["summary"]["update"]["update"] == 2
    assert shown["summary"]["sync"] == {"inserted": 2, "updated": 0, "unchanged": 0}
    assert shown["summary"]["changes"]["version"] == {"from": "1.8.2", "to": "1.9.0"}
    assert shown["summary"]["changes"]["tier"] == {"from": "starter", "to": "growth"}
    assert [e["state"] for e in shown["events"]] == ["queued", "running", "succeeded"]
    assert shown["attempts"] == 1


async def test_after_an_update_the_cloud_db_holds_the_synced_state(running: Service, cloud_db: str) -> None:
    request_id = await submit(running, 5001, "deploy", {"version": "2.0.0", "tier": "starter", "region": "us-east"})
    async with workers(running):
        await wait_until_final(cloud_db, [request_id])
    assert instance(cloud_db, 5001) == {
        "status": "running",
        "tier": "starter",
        "current_version": "2.0.0",
        "source_stack": "test-us-east-00",
    }
    async with async_client(running) as http:
        org = (await http.get("/v1/orgs/5001")).json()
    assert org["synced"]["password_set"] is True
    assert org["requests"][0]["state"] == "succeeded"


async def test_a_rotation_changes_the_synced_password(
    running: Service, cloud_db: str, registry_dir: Path, settings: Settings
) -> None:
    first = await submit(running, 2001, "deploy", {"version": "1.8.2", "tier": "growth"})
    async with workers(running):
        await wait_until_final(cloud_db, [first])
        before = load_registry(registry_dir).tenants[2001]
        rotation = await submit(running, 2001, "rotate-password")
        await wait_until_final(cloud_db, [rotation])
    after = load_registry(registry_dir).tenants[2001]
    with psycopg.connect(cloud_db) as conn:
        row = conn.execute(
            "SELECT db_password_key_id, db_password_fingerprint FROM instances WHERE org_id = 2001"
        ).fetchone()
    assert row is not None
    assert settings.keys.matches(2001, password_of(after), row[0], row[1])
    assert not settings.keys.matches(2001, password_of(before), row[0], row[1])


async def test_two_workers_never_run_one_stack_at_once(settings: Settings, registry_dir: Path, cloud_db: str) -> None:
    # Two services against one Cloud DB, as two `serve` processes: separate pools, workers and heartbeats.
    fake = FakeStacks(registry_dir, delay=0.3)
    first, second = (
        Service(settings, runner=lambda registry: fake, name="one"),
        Service(settings, runner=lambda registry: fake, name="two"),
    )
    await first.open()
    await second.open()
    try:
        ids: list[str] = []
        async with workers(first, second):
            orgs = [1001, 1002, 1003, 1004, 2001, 2002]  # eu-west 0, eu-west 1, us-east 0
            for org, service in zip(itertools.islice(itertools.cycle(orgs), 21), itertools.cycle((first, second))):
                ids.append(await submit(service, org, "rotate-password"))
                await asyncio.sleep(0.05)
            states = await wait_until_final(cloud_db, ids, timeout=60)
    finally:
        await first.close()
        await second.close()
    assert set(states.values()) == {"succeeded"}
    by_stack: dict[str, list[Any]] = {}
    for call in fake.calls:
        by_stack.setdefault(call.stack, []).append(call)
    assert set(by_stack) == {"test-eu-west-00", "test-eu-west-01", "test-us-east-00"}
    for stack, calls in by_stack.items():
        ordered = sorted(calls, key=lambda c: c.start)
        for earlier, later in itertools.pairwise(ordered):
            assert later.start >= earlier.end, f"{stack}: two updates overlapped: {earlier} and {later}"
    # Different stacks did run at the same time: the lock is per stack, not global.
    assert any(
        a.stack != b.stack and a.start < b.end and b.start < a.end for a, b in itertools.combinations(fake.calls, 2)
    )


async def test_a_transient_failure_is_retried_after_a_backoff(
    registry_dir: Path, settings: Settings, cloud_db: str
) -> None:
    fake = FakeStacks(registry_dir, locked_times=1)
    service = Service(settings, runner=lambda registry: fake)
    await service.open()
    try:
        request_id = await submit(service, 1003, "stop")
        async with workers(service):
            await wait_until_final(cloud_db, [request_id])
        shown = await request(service, request_id)
    finally:
        await service.close()
    assert shown["state"] == "succeeded"
    assert shown["reason"] is None
    assert shown["attempts"] == 2
    assert [e["state"] for e in shown["events"]] == ["queued", "running", "queued", "running", "succeeded"]
    retry_note = shown["events"][2]["note"]
    assert retry_note == "attempt 1 failed: another update of stack test-eu-west-01 was running; retrying in 0.2 s"
    gap = dt.datetime.fromisoformat(shown["events"][3]["at"]) - dt.datetime.fromisoformat(shown["events"][2]["at"])
    assert gap >= dt.timedelta(seconds=0.2)


async def test_retries_are_bounded_and_the_failure_names_the_reason(
    registry_dir: Path, settings: Settings, cloud_db: str
) -> None:
    fake = FakeStacks(registry_dir, locked_times=100)
    service = Service(settings, runner=lambda registry: fake)
    await service.open()
    try:
        request_id = await submit(service, 1003, "stop")
        async with workers(service):
            await wait_until_final(cloud_db, [request_id])
        shown = await request(service, request_id)
    finally:
        await service.close()
    assert shown["state"] == "failed"
    assert shown["attempts"] == settings.tuning.max_attempts == 3
    assert shown["reason"] == "another update of stack test-eu-west-01 was running (gave up after 3 attempts)"
    assert len(fake.calls) == 3


def without_downgrades(registry_dir: Path) -> None:
    """The shipped registry schedules downgrades on real dates; tests choose their own dates."""
    for tenant in load_registry(registry_dir).tenants.values():
        if tenant.downgrade is not None:
            write_tenant(registry_dir, tenant.model_copy(update={"downgrade": None}))


async def test_a_due_downgrade_is_applied_once(running: Service, registry_dir: Path, cloud_db: str) -> None:
    without_downgrades(registry_dir)
    registry = load_registry(registry_dir)
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    tenant = registry.tenants[1001].model_copy(update={"downgrade": ScheduledDowngrade(tier="starter", at=yesterday)})
    write_tenant(registry_dir, tenant)
    first = await running.work.apply_due_downgrades()
    second = await running.work.apply_due_downgrades()
    assert first == {"due": 1, "queued": 1}
    assert second == {"due": 0, "queued": 0}
    applied = load_registry(registry_dir).tenants[1001]
    assert (applied.tier, applied.downgrade) == ("starter", None)
    with psycopg.connect(cloud_db) as conn:
        rows = conn.execute("SELECT org_id, action, state FROM railzway_requests").fetchall()
    assert rows == [(1001, "scheduled-downgrade", "queued")]


async def test_a_future_downgrade_waits(running: Service, registry_dir: Path) -> None:
    without_downgrades(registry_dir)
    async with async_client(running) as http:
        response = await http.post("/v1/orgs/1001/downgrade", json={"tier": "starter", "at": "2999-12-31"})
    assert response.status_code == 202
    assert await running.work.apply_due_downgrades() == {"due": 0, "queued": 0}
    assert load_registry(registry_dir).tenants[1001].tier == "growth"


def test_maintenance_tasks_are_periodic(service: Service) -> None:
    periodic = {task.task.name: task.cron for task in service.queue.periodic_registry.periodic_tasks.values()}
    assert periodic == {
        RECOVER: "* * * * * */1",
        APPLY_DUE_DOWNGRADES: "7 * * * *",
        RECONCILE: "*/10 * * * *",
        PRUNE_JOBS: "17 3 * * *",
    }
