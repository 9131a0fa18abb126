"""The service's parts wired together: one connection pool, the queue, the intake, the work, the workers.

`Service` is what the HTTP app and `serve` are given; tests build one against a throwaway database with
a test runner (`runner=`, the one seam for the engine), and drive its workers directly.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import procrastinate
import psycopg
from psycopg_pool import AsyncConnectionPool

from railzway.engine.apply import CloudDB
from railzway.engine.revision_status import StackStatus, stack_statuses
from railzway.registry.access import RegistryAccess
from railzway.registry.git import Identity, RegistryClone
from railzway.service.intake import Intake
from railzway.service.queue import MAINTENANCE_QUEUE, STACK_QUEUE, register_tasks
from railzway.service.registry_commits import ClonedRegistry, RegistryCommits
from railzway.service.settings import Settings
from railzway.service.updater import RunnerFactory, Updater, automation_runner
from railzway.service.work import StackWork, read_revisions

log = logging.getLogger(__name__)

WORKER_RESTART_SECONDS = 5.0


class Service:
    def __init__(self, settings: Settings, runner: RunnerFactory | None = None, *, name: str = "railzway") -> None:
        self.settings = settings
        self.name = name
        tuning = settings.tuning
        self.pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            settings.cloud_db_url,
            min_size=1,
            # Each running update holds a connection only while it claims and settles; the rest is
            # procrastinate's fetches and heartbeats and the API's short transactions.
            max_size=tuning.concurrency + 8,
            open=False,
            kwargs={"application_name": f"{name} serve", "connect_timeout": 10},
        )
        self.queue = procrastinate.App(connector=procrastinate.PsycopgConnector())
        self.commits: RegistryCommits | None = None
        if settings.registry_remote is None:
            self.registry: RegistryAccess = RegistryAccess(settings.registry_dir)
        else:
            # The registry directory is `tenants/` of the service's own clone of the branch.
            directory = settings.registry_dir.absolute()
            clone = RegistryClone(
                directory.parent,
                settings.registry_remote,
                settings.registry_branch,
                Identity(*settings.author),
                registry=directory.name,
            )
            self.registry = ClonedRegistry(clone)
            self.commits = RegistryCommits(clone, self.registry)
        self.intake = Intake(self.pool, self.queue, self.registry, settings.stack_env, commits=self.commits)
        self.cloud_db = CloudDB(settings.cloud_db_url, settings.keys)
        updater = Updater(
            runner or automation_runner, self.cloud_db, settings.registry_dir, self.commits, settings.stack_env
        )
        self.work = StackWork(
            self.pool,
            self.queue,
            updater,
            self.intake,
            self.registry,
            tuning,
            commits=self.commits,
            cloud_db=self.cloud_db,
            stack_env=dict(settings.stack_env),
        )
        register_tasks(self.queue, self.work, tuning.recovery_every_seconds, settings.reconcile_minutes)
        self._opened = False

    def start_registry(self) -> str | None:
        """Clone the registry branch (first start) or bring the clone to the remote's head; the head.

        Blocking, and before anything is accepted: without its clone the service cannot change anything.
        """
        if self.commits is None:
            log.warning(
                "RAILZWAY_REGISTRY_REMOTE is not set: changes are written to %s, not committed to git",
                self.settings.registry_dir,
            )
            return None
        head = self.commits.start()
        log.info("registry clone at %s (branch %s)", head[:12], self.settings.registry_branch)
        return head

    async def stack_statuses(self) -> list[StackStatus]:
        """Every stack's recorded revision against the branch head (as fetched now)."""
        recorded = await asyncio.to_thread(read_revisions, self.settings.cloud_db_url)
        if self.commits is None:
            return stack_statuses(None, None, recorded, [])
        commits = self.commits
        head = await asyncio.to_thread(commits.clone.refresh)
        registry = await asyncio.to_thread(self.registry.full)
        names = [ref.name for ref in self.work.stacks(registry)]
        return await asyncio.to_thread(stack_statuses, commits.clone.git, head, recorded, names, commits.clone.registry)

    async def open(self) -> None:
        """Start the pool. It connects in the background, so the service starts while the Cloud DB is down."""
        if self._opened:
            return
        await self.pool.open(wait=False)
        await self.queue.open_async(pool=self.pool)
        self._opened = True

    async def close(self) -> None:
        if not self._opened:
            return
        await self.queue.close_async()
        await self.pool.close()
        self._opened = False

    async def healthy(self, timeout: float = 3.0) -> bool:
        """Whether the Cloud DB answers a query within `timeout` seconds.

        A connection of its own rather than one from the pool: a refused connection fails at once, and a
        pool busy with updates does not make a healthy Cloud DB look down.
        """
        try:
            async with (
                asyncio.timeout(timeout),
                await psycopg.AsyncConnection.connect(
                    self.settings.cloud_db_url,
                    connect_timeout=max(1, int(timeout)),
                    application_name=f"{self.name} healthz",
                ) as conn,
            ):
                await conn.execute("SELECT 1")
            return True
        except Exception as e:  # any failure means "not healthy"; the reason goes to the log only
            log.warning("health check: the Cloud DB does not answer (%s)", type(e).__name__)
            return False

    async def run_workers(self) -> None:
        """Run the stack and maintenance workers until cancelled; cancelling stops them gracefully.

        On cancellation procrastinate stops fetching, waits up to the shutdown grace period for running
        jobs, then cancels them (a cancelled update releases its requests), and unregisters the worker.
        """
        tuning = self.settings.tuning
        common: dict[str, Any] = {
            "install_signal_handlers": False,
            "update_heartbeat_interval": tuning.heartbeat_seconds,
            "stalled_worker_timeout": tuning.stalled_seconds,
            "shutdown_graceful_timeout": tuning.shutdown_grace_seconds,
            "fetch_job_polling_interval": tuning.poll_seconds,
            "abort_job_polling_interval": max(tuning.poll_seconds, 1.0),
        }
        try:
            # On start: a crash between a commit and its `up` (or a missed deploy) is healed now, not at the
            # first scheduled tick.
            await self.work.reconcile()
        except Exception as e:
            log.error("reconcile on start failed: %s", type(e).__name__)
        workers = [
            asyncio.create_task(
                self._keep_running(
                    {
                        **common,
                        "name": f"{self.name}-stacks",
                        "queues": [STACK_QUEUE],
                        "concurrency": tuning.concurrency,
                    }
                )
            ),
            asyncio.create_task(
                self._keep_running({**common, "name": f"{self.name}-maintenance", "queues": [MAINTENANCE_QUEUE]})
            ),
        ]
        try:
            await asyncio.gather(*workers)
        except asyncio.CancelledError:
            # gather() has cancelled every worker, once (a second cancel would cut a worker's graceful
            # stop short), but gives up as soon as the first has stopped; the other may still be
            # finishing an update, and returning now would let the process exit under it.
            await asyncio.wait(workers)
            raise

    async def _keep_running(self, options: dict[str, Any]) -> None:
        # A worker stops by itself when one of its side tasks fails (the Cloud DB went away under its
        # heartbeat); start it again rather than leaving the process up with nobody claiming work.
        while True:
            try:
                await self.queue.run_worker_async(**options)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                # Typically the Cloud DB going away; the health check says so too. No traceback every 5 s.
                log.error(
                    "worker %s stopped: %s; restarting in %g s",
                    options["name"],
                    type(e).__name__,
                    WORKER_RESTART_SECONDS,
                )
            else:
                log.warning("worker %s stopped; restarting", options["name"])
            await asyncio.sleep(WORKER_RESTART_SECONDS)
