"""What the queue's jobs do: run a stack's batch, recover abandoned work, apply due downgrades.

`run_stack` claims every due request of its stack (under the stack's advisory lock, which accepting a
request also takes, so a request is either seen by this claim or gets a job of its own), runs one
targeted `pulumi up` for their orgs in a thread, syncs the Cloud DB, and settles the requests:

- success: each request `succeeded`, with what the update and the sync changed;
- transient failure (a concurrent update, the engine failing, the Cloud DB down for the sync): requests
  with attempts left go back to the queue with exponential backoff, the others fail with the reason;
- permanent failure (no pulumi CLI, outputs that cannot be synced): every request `failed` with a reason;
- a request that ends `failed` has its registry commit reverted by a commit that says why
  (`railzway.service.registry_commits`), so the branch is left as it was;
- SIGTERM past the grace period: the requests go back to the queue for another worker.

Whenever queued requests remain for the stack, a job for it is deferred before the transaction commits.
Settling runs shielded from cancellation, so a shutdown never leaves it half done.

`reconcile` (on start and on a schedule) compares every stack's recorded registry revision with the branch
head and queues a `reconcile` request (visible like any other) for each stack that is behind in a way that
concerns it; the request's `up` covers the whole stack. It heals what a crash between a commit and its
`up` left behind, and a change merged through a pull request the deploy workflow has not applied yet.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import procrastinate
from procrastinate import exceptions as pexc
from psycopg_pool import AsyncConnectionPool

from railzway.clouddb import StackRevision, record_revision, stack_revisions
from railzway.clouddb import connect as connect_cloud_db
from railzway.engine.apply import CloudDB
from railzway.engine.revision_status import stack_statuses
from railzway.engine.stacks import DEFAULT_ENVIRONMENT, ENVIRONMENT_ENV, STACK_ENV, StackRef, stack_for_tenant
from railzway.registry.access import RegistryAccess, RegistryUnavailable
from railzway.registry.git import GitError
from railzway.registry.model import Registry
from railzway.registry.shards import stacks_of
from railzway.service import request_store as store
from railzway.service.actions import Action, EmptyBody, Rejected
from railzway.service.intake import Intake, IntakeUnavailable
from railzway.service.logs import for_requests
from railzway.service.queue import RUN_STACK, defer_stack
from railzway.service.registry_commits import RegistryCommits
from railzway.service.settings import Tuning
from railzway.service.updater import UpdateFailed, UpdateOutcome, Updater

RECONCILE = "reconcile"

log = logging.getLogger(__name__)

T = TypeVar("T")


class StackWork:
    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        queue: procrastinate.App,
        updater: Updater,
        intake: Intake,
        registry: RegistryAccess,
        tuning: Tuning,
        *,
        commits: RegistryCommits | None = None,
        cloud_db: CloudDB | None = None,
        stack_env: dict[str, str] | None = None,
    ) -> None:
        self._pool = pool
        self._queue = queue
        self._updater = updater
        self._intake = intake
        self._registry = registry
        self._tuning = tuning
        self._commits = commits
        self._cloud_db = cloud_db
        self._stack_env = dict(stack_env or {})

    async def run_stack(self, job_id: int, stack: str) -> dict[str, Any]:
        """The `run_stack` job: one batch of the stack's requests, applied by one update."""
        async with self._pool.connection() as conn, conn.transaction():
            await store.lock_stack(conn, stack)
            batch = await store.claim(conn, stack, job_id)
            if not batch:
                await self._follow_up(conn, stack)
        if not batch:
            return {"stack": stack, "requests": 0}
        ids = [r.id for r in batch]
        whole = any(r.org_id is None for r in batch)
        orgs = None if whole else sorted({r.org_id for r in batch if r.org_id is not None})
        ref = StackRef(stack, None if batch[0].stack_shards is None else tuple(batch[0].stack_shards))
        applied_by = ("service request " if len(ids) == 1 else "service requests ") + ", ".join(map(str, ids))
        with for_requests(str(i) for i in ids):
            log.info(
                "updating stack %s for %d request(s), %s",
                stack,
                len(batch),
                "the whole stack" if orgs is None else "orgs " + ", ".join(map(str, orgs)),
                extra={"stack": stack, "job_id": job_id},
            )
            try:
                outcome: UpdateOutcome | UpdateFailed = await in_daemon_thread(
                    self._updater.apply, ref, orgs, applied_by
                )
            except UpdateFailed as failed:
                outcome = failed
            except asyncio.CancelledError:
                await completed(self._release(job_id, stack, batch, "released: the service is shutting down"))
                raise
            settled = await completed(self._settle(job_id, stack, batch, outcome))
        return {"stack": stack, "requests": len(batch), **settled}

    async def _settle(
        self, job_id: int, stack: str, batch: list[store.RequestRecord], outcome: UpdateOutcome | UpdateFailed
    ) -> dict[str, int]:
        ids = [r.id for r in batch]
        counts = {"succeeded": 0, "failed": 0, "retrying": 0}
        failed: list[store.RequestRecord] = []
        async with self._pool.connection() as conn, conn.transaction():
            await store.lock_stack(conn, stack)
            if isinstance(outcome, UpdateOutcome):
                missing = set(outcome.missing)
                done = [r.id for r in batch if r.org_id not in missing]
                counts["succeeded"] = len(
                    await store.finish(conn, done, job_id, "succeeded", summary=outcome.summary())
                )
                if missing:
                    failed += await store.finish(
                        conn,
                        [r.id for r in batch if r.org_id in missing],
                        job_id,
                        "failed",
                        summary=outcome.summary(),
                        reason="the update ran, but the stack's outputs do not list this organization",
                    )
            elif outcome.transient:
                exhausted = [r.id for r in batch if r.attempts >= self._tuning.max_attempts]
                again = [r for r in batch if r.attempts < self._tuning.max_attempts]
                failed += await store.finish(
                    conn,
                    exhausted,
                    job_id,
                    "failed",
                    reason=f"{outcome.reason} (gave up after {self._tuning.max_attempts} attempts)",
                )
                for request in again:
                    wait = self.backoff(request.attempts)
                    counts["retrying"] += len(
                        await store.requeue(
                            conn,
                            [request.id],
                            job_id,
                            delay=wait,
                            note=f"attempt {request.attempts} failed: {outcome.reason}; "
                            f"retrying in {wait.total_seconds():g} s",
                        )
                    )
            else:
                failed += await store.finish(conn, ids, job_id, "failed", reason=outcome.reason)
            await self._follow_up(conn, stack)
        counts["failed"] = len(failed)
        await self._revert(failed)
        level = logging.INFO if counts["failed"] == 0 else logging.WARNING
        log.log(
            level,
            "stack %s: %d succeeded, %d failed, %d to retry%s",
            stack,
            counts["succeeded"],
            counts["failed"],
            counts["retrying"],
            "" if isinstance(outcome, UpdateOutcome) else f" ({outcome.reason})",
            extra={"stack": stack, "job_id": job_id},
        )
        return counts

    async def _revert(self, failed: list[store.RequestRecord]) -> None:
        """Revert the registry commits of requests that failed, so the branch is left as it was."""
        if self._commits is None:
            return
        for record in failed:
            commit = record.summary.get("commit")
            if record.org_id is None or not commit:
                continue
            with for_requests([str(record.id)]):
                try:
                    published = await asyncio.to_thread(
                        self._commits.revert, record.id, record.action, record.org_id, commit, record.reason or "failed"
                    )
                except GitError as e:
                    log.error(
                        "request %s failed and its commit %s could not be reverted: %s", record.id, commit[:12], e
                    )
                    continue
                if published is not None and published.commit is not None:
                    log.info(
                        "request %s failed: its commit %s reverted by %s", record.id, commit[:12], published.commit[:12]
                    )

    def backoff(self, attempts: int) -> dt.timedelta:
        seconds = self._tuning.retry_base_seconds * 2 ** max(attempts - 1, 0)
        return dt.timedelta(seconds=min(seconds, self._tuning.retry_max_seconds))

    async def _release(self, job_id: int, stack: str, batch: list[store.RequestRecord], note: str) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await store.lock_stack(conn, stack)
            back = await store.requeue(conn, [r.id for r in batch], job_id, delay=None, note=note)
            await self._follow_up(conn, stack)
        log.warning("stack %s: %d request(s) back in the queue (%s)", stack, len(back), note)

    async def _follow_up(self, conn: Any, stack: str) -> None:
        """Defer a job for the stack's remaining queued requests (caller holds the stack lock)."""
        due = await store.next_due(conn, stack)
        if due is not None:
            # Database time on both sides: the job becomes due exactly when its first request does.
            await defer_stack(self._queue, conn, stack, at=due)

    async def recover(self) -> dict[str, Any]:
        """Hand back the requests of dead workers' jobs and of jobs that ended without settling them.

        A job is dead when procrastinate's heartbeat query says its worker stopped answering (or was
        pruned). Its requests go back to the queue (the attempt counts: a request that keeps killing its
        worker fails after `max_attempts`), the job is marked failed, and a fresh job is deferred.
        """
        report = {"stalled_jobs": 0, "released": 0, "failed": 0, "deferred": 0}
        stalled = await self._queue.job_manager.get_stalled_jobs(
            task_name=RUN_STACK, seconds_since_heartbeat=self._tuning.stalled_seconds
        )
        for job in stalled:
            assert job.id is not None
            stack = str(job.task_kwargs.get("stack", ""))
            released, failed = await self._hand_back(job.id, stack, "its worker stopped responding")
            report["released"] += released
            report["failed"] += failed
            try:
                await self._queue.job_manager.finish_job_by_id_async(
                    job.id, status=procrastinate.jobs.Status.FAILED, delete_job=False
                )
            except pexc.ConnectorException:
                log.info("stalled job %s was settled by another worker", job.id)
            report["stalled_jobs"] += 1
            log.warning("stack %s: job %s of a dead worker recovered", stack, job.id)
        async with self._pool.connection() as conn:
            async with conn.transaction():
                holders = await conn.execute(
                    "SELECT DISTINCT job_id, stack FROM railzway_requests WHERE state = 'running' ORDER BY job_id"
                )
                running = await holders.fetchall()
            for job_id, stack in running:
                if await self._job_is_active(conn, job_id):
                    continue
                released, failed = await self._hand_back(job_id, stack, "its job ended without settling it")
                report["released"] += released
                report["failed"] += failed
            async with conn.transaction():
                stacks = await store.queued_stacks(conn)
            for stack in stacks:
                async with conn.transaction():
                    await store.lock_stack(conn, stack)
                    if await defer_stack(self._queue, conn, stack) is not None:
                        report["deferred"] += 1
        if any(report.values()):
            log.info("recovery: %s", report, extra={"recovery": report})
        return report

    async def _job_is_active(self, conn: Any, job_id: int | None) -> bool:
        if job_id is None:
            return False
        try:
            async with conn.transaction():
                status = await self._queue.job_manager.get_job_status_async(job_id, connection=conn)
        except pexc.NoResult:
            return False
        return status in (procrastinate.jobs.Status.DOING, procrastinate.jobs.Status.TODO)

    async def _hand_back(self, job_id: int, stack: str, why: str) -> tuple[int, int]:
        """Requeue (or fail, when out of attempts) what `job_id` holds; defer a job for the stack."""
        async with self._pool.connection() as conn, conn.transaction():
            await store.lock_stack(conn, stack)
            held = await store.held_by(conn, job_id)
            spent = [r.id for r in held if r.attempts >= self._tuning.max_attempts]
            failed = await store.finish(
                conn,
                spent,
                job_id,
                "failed",
                reason=f"the update was abandoned {self._tuning.max_attempts} times: {why}",
            )
            back = await store.requeue(
                conn, [r.id for r in held if r.attempts < self._tuning.max_attempts], job_id, delay=None, note=why
            )
            await self._follow_up(conn, stack)
        await self._revert(failed)
        if held:
            with for_requests(str(r.id) for r in held):
                log.warning("stack %s: %d request(s) of job %s handed back: %s", stack, len(held), job_id, why)
        return len(back), len(failed)

    async def reconcile(self) -> dict[str, Any]:
        """Queue a `reconcile` request for every stack behind the registry branch head (see the module docstring).

        A stack whose recorded revision is behind only by commits that change none of its tenants (nor the
        catalogues) has nothing to apply: its recorded revision is moved to the head instead.
        """
        report: dict[str, Any] = {"queued": [], "advanced": [], "current": 0}
        if self._commits is None or self._cloud_db is None:
            return report
        commits, cloud_db = self._commits, self._cloud_db
        try:
            head = await asyncio.to_thread(commits.clone.refresh)
            registry = await asyncio.to_thread(self._registry.full)
        except (GitError, RegistryUnavailable) as e:
            log.error("reconcile skipped: %s", e)
            return {**report, "error": str(e)}
        refs = self.stacks(registry)
        holds: dict[str, set[int]] = {ref.name: set() for ref in refs}
        for tenant in registry.tenants.values():
            name = stack_for_tenant(tenant, self._stack_env).name
            holds.setdefault(name, set()).add(tenant.org_id)
        try:
            recorded = await asyncio.to_thread(read_revisions, cloud_db.url)
        except Exception as e:  # the Cloud DB is down: the next tick tries again
            log.error("reconcile skipped: the recorded revisions cannot be read (%s)", type(e).__name__)
            return {**report, "error": "the Cloud DB did not answer"}
        statuses = {
            s.stack: s
            for s in await asyncio.to_thread(
                stack_statuses, commits.clone.git, head, recorded, [r.name for r in refs], commits.clone.registry
            )
        }
        for ref in refs:
            status = statuses[ref.name]
            if status.current:
                report["current"] += 1
                continue
            mine = holds.get(ref.name, set())
            if status.recorded is None and not mine:
                continue  # an empty shard never applied: nothing to do
            if (
                status.drift is not None
                and not status.drift.catalogues
                and not mine.intersection(status.drift.orgs)
                and all(o in registry.tenants for o in status.drift.orgs)
            ):
                await asyncio.to_thread(
                    _record, cloud_db.url, ref.name, head, "service reconcile (nothing of the stack changed)"
                )
                report["advanced"].append(ref.name)
                continue
            if await self._queue_reconcile(ref, head, status.text()):
                report["queued"].append(ref.name)
        if report["queued"] or report["advanced"]:
            log.info("reconcile at %s: %s", head[:12], report, extra={"reconcile": report})
        return report

    def stacks(self, registry: Registry) -> list[StackRef]:
        """The stacks this service applies: the one `RAILZWAY_STACK`, or the environment's shard stacks."""
        single = self._stack_env.get(STACK_ENV, "").strip()
        environment = self._stack_env.get(ENVIRONMENT_ENV, "").strip() or DEFAULT_ENVIRONMENT
        return [StackRef(single)] if single else [StackRef.of(s) for s in stacks_of(registry, environment)]

    async def _queue_reconcile(self, ref: StackRef, head: str, why: str) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            await store.lock_stack(conn, ref.name)
            if await store.has_active(conn, ref.name):
                # Its queued or running requests update it soon: one that covers every change records
                # the head, and the next reconcile looks again. A crashed one is handed back by `recover`.
                return False
            record = await store.insert(
                conn,
                request_id=uuid.uuid4(),
                org_id=None,
                action=RECONCILE,
                params={"revision": head},
                stack=ref.name,
                stack_shards=None if ref.shards is None else list(ref.shards),
                idempotency_key=None,
                fingerprint=hashlib.sha256(f"{RECONCILE}:{ref.name}:{head}".encode()).hexdigest(),
                summary={"why": why},
            )
            await defer_stack(self._queue, conn, ref.name)
        with for_requests([str(record.id)]):
            log.info("stack %s: reconcile queued (%s)", ref.name, why, extra={"stack": ref.name})
        return True

    async def apply_due_downgrades(self) -> dict[str, Any]:
        """Queue a `scheduled-downgrade` request for every tenant whose downgrade date has come."""
        today = dt.datetime.now(dt.UTC).date()
        try:
            registry = await asyncio.to_thread(self._registry.full)
        except RegistryUnavailable as e:
            log.error("scheduled downgrades skipped: %s", e)
            return {"queued": 0, "error": str(e)}
        due = sorted(
            t.org_id
            for t in registry.tenants.values()
            if t.downgrade is not None and t.downgrade.at <= today and t.status != "terminated"
        )
        queued = 0
        for org_id in due:
            # One key per tenant and date: a second sweep on the same day replays instead of queueing again.
            key = f"scheduled-downgrade:{org_id}:{today.isoformat()}"
            try:
                accepted = await self._intake.submit(org_id, Action.scheduled_downgrade, EmptyBody(), key)
            except Rejected as e:
                log.info("org %s: scheduled downgrade not applied: %s", org_id, e.message)
                continue
            except (IntakeUnavailable, RegistryUnavailable) as e:
                log.error("org %s: scheduled downgrade not queued: %s", org_id, e)
                continue
            if not accepted.replayed:
                queued += 1
        return {"due": len(due), "queued": queued}


def read_revisions(url: str) -> dict[str, StackRevision]:
    with connect_cloud_db(url, application_name="railzway serve reconcile") as conn:
        return dict(stack_revisions(conn))


def _record(url: str, stack: str, revision: str, by: str) -> None:
    with connect_cloud_db(url, application_name="railzway serve reconcile") as conn:
        record_revision(conn, stack, revision, by)


async def completed(step: Coroutine[Any, Any, T]) -> T:
    """Await `step` to its end even if the caller is cancelled meanwhile (then re-raise the cancellation).

    Settling requests is one short transaction; abandoning it half way would leave them running under a
    job that is about to be marked aborted (the recovery would still find them, but later).
    """
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


async def in_daemon_thread(function: Callable[..., T], *args: Any) -> T:
    """Run blocking `function` in a daemon thread and await it.

    Unlike `asyncio.to_thread`, a daemon thread does not keep the process alive at exit: when a shutdown
    releases an update that is still running, the process can still end within its grace period.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def target() -> None:
        try:
            result = context.run(function, *args)
        except BaseException as e:
            error = e
            _call_soon(loop, lambda: settle(lambda: future.set_exception(error)))
        else:
            _call_soon(loop, lambda: settle(lambda: future.set_result(result)))

    threading.Thread(target=target, name=f"railzway-update-{getattr(function, '__name__', 'run')}", daemon=True).start()
    return await future


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # the loop closed while the update ran: nobody is waiting any more
        pass
