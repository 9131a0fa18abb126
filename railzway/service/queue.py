"""The durable queue: procrastinate in the Cloud DB, its tasks, and how a stack's job is deferred.

One job kind does the work: `run_stack(stack)`, deferred with `lock=stack` (procrastinate never runs two
jobs with the same lock at once, across every worker of every `serve` process) and `queueing_lock=stack`
(at most one of them waits in the queue: a request accepted while one waits simply joins its batch).
The job claims every due request of its stack when it starts, so requests that queued up while the stack
was busy are applied together by one `pulumi up`.

Retries and recovery are ours rather than procrastinate's `retry=` and its documented stalled-job recipe,
for one reason: both put the *same* job back to `todo`, which violates the queueing lock whenever another
job for the stack was queued meanwhile (procrastinate issues #1446 and #1543), and a job stuck that way
blocks its stack. So a failed or abandoned job hands its requests back to the queue (`store.requeue`)
and a fresh job is deferred, which the queueing lock deduplicates. procrastinate still provides the
parts that are hard to get right: SKIP LOCKED claiming, the per-stack lock, worker heartbeats and the
stalled-job query (`JobManager.get_stalled_jobs`), LISTEN/NOTIFY wake-ups and periodic tasks.

Maintenance runs on its own queue and worker, so it is never starved by long updates:
`recover` (every few seconds: dead workers' jobs, orphaned requests, stacks left without a job),
`apply_due_downgrades` (hourly), `reconcile` (every `RAILZWAY_SERVICE_RECONCILE_MINUTES`: stacks behind the
registry branch head get a reconcile request) and `prune_jobs` (daily: finished procrastinate jobs older than 3 days;
our request table keeps the history).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Protocol

import procrastinate
from procrastinate import exceptions
from psycopg import AsyncConnection

log = logging.getLogger(__name__)

STACK_QUEUE = "railzway-stacks"
MAINTENANCE_QUEUE = "railzway-maintenance"
RUN_STACK = "railzway.run_stack"
RECOVER = "railzway.recover"
APPLY_DUE_DOWNGRADES = "railzway.apply_due_downgrades"
RECONCILE = "railzway.reconcile"
PRUNE_JOBS = "railzway.prune_jobs"
PRUNE_AFTER_HOURS = 72


class Handlers(Protocol):
    """What the tasks do (`railzway.service.work.StackWork`)."""

    async def run_stack(self, job_id: int, stack: str) -> dict[str, Any]: ...

    async def recover(self) -> dict[str, Any]: ...

    async def apply_due_downgrades(self) -> dict[str, Any]: ...

    async def reconcile(self) -> dict[str, Any]: ...


def register_tasks(
    app: procrastinate.App, handlers: Handlers, recovery_every_seconds: int, reconcile_every_minutes: int = 10
) -> None:
    """Define the service's tasks on `app`; the handlers hold every dependency."""

    async def run_stack(context: procrastinate.JobContext, stack: str) -> dict[str, Any]:
        assert context.job.id is not None
        return await handlers.run_stack(context.job.id, stack)

    async def recover(context: procrastinate.JobContext, timestamp: int) -> dict[str, Any]:
        return await handlers.recover()

    async def apply_due_downgrades(context: procrastinate.JobContext, timestamp: int) -> dict[str, Any]:
        return await handlers.apply_due_downgrades()

    async def reconcile(context: procrastinate.JobContext, timestamp: int) -> dict[str, Any]:
        return await handlers.reconcile()

    async def prune_jobs(context: procrastinate.JobContext, timestamp: int) -> None:
        await app.job_manager.delete_old_jobs(
            nb_hours=PRUNE_AFTER_HOURS, include_failed=True, include_cancelled=True, include_aborted=True
        )

    app.task(name=RUN_STACK, queue=STACK_QUEUE, pass_context=True)(run_stack)
    maintenance: list[tuple[Any, str, str]] = [
        (recover, RECOVER, f"* * * * * */{recovery_every_seconds}"),
        (apply_due_downgrades, APPLY_DUE_DOWNGRADES, "7 * * * *"),
        (reconcile, RECONCILE, f"*/{reconcile_every_minutes} * * * *"),
        (prune_jobs, PRUNE_JOBS, "17 3 * * *"),
    ]
    for function, name, cron in maintenance:
        # The queueing lock keeps ticks from piling up behind a slow run.
        task = app.task(name=name, queue=MAINTENANCE_QUEUE, queueing_lock=name, pass_context=True)(function)
        app.periodic(cron=cron, periodic_id=name)(task)


async def defer_stack(
    app: procrastinate.App, conn: AsyncConnection[Any], stack: str, at: dt.datetime | None = None
) -> int | None:
    """Make sure a job will run `stack` (no sooner than `at`), inside the caller's transaction.

    Returns the new job's id, or None when one is already waiting (it will claim the same requests).
    The insert runs in a savepoint: a queueing-lock conflict must not abort the caller's transaction.
    """
    deferrer = app.configure_task(
        RUN_STACK,
        lock=stack,
        queueing_lock=stack,
        queue=STACK_QUEUE,
        schedule_at=at,
        connection=conn,
    )
    try:
        async with conn.transaction():
            return await deferrer.defer_async(stack=stack)
    except exceptions.AlreadyEnqueued:
        return None
