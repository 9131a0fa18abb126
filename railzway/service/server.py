"""`serve`: the HTTP API and the queue's workers in one process, one event loop.

SIGTERM (or SIGINT) stops both: uvicorn stops accepting connections and finishes the requests in
flight; the workers stop claiming jobs, let running updates finish for up to the shutdown grace period,
then release what still runs back to the queue; the process exits 0. Several `serve` processes against
one Cloud DB share the work; a process killed outright (SIGKILL, power loss) is recovered by the others,
or by itself when it comes back, through the workers' heartbeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator

import uvicorn

from railzway.registry.git import GitError
from railzway.service.api import create_app
from railzway.service.core import Service
from railzway.service.settings import Settings
from railzway.service.updater import RunnerFactory

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` owns SIGTERM for the API and the workers together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: Settings, host: str, port: int, runner: RunnerFactory | None = None) -> None:
    """Run until SIGTERM/SIGINT; `ServeError` when the address cannot be listened on.

    `runner` is the engine (default: the Pulumi engine); the tests that run the service as a process pass
    their fake through it, since nothing in the environment selects one.
    """
    service = Service(settings, runner)
    try:
        # Bound before anything starts, so a taken port fails cleanly with no worker running.
        listener = socket.create_server((host, port), reuse_port=False)
    except OSError as e:
        raise ServeError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    try:
        await asyncio.to_thread(service.start_registry)
    except GitError as e:
        listener.close()
        raise ServeError(f"the registry's git remote cannot be used: {e}") from None
    await service.open()
    app = create_app(service, manage_service=False)
    config = uvicorn.Config(
        app,
        log_config=None,  # our JSON handler on the root logger formats uvicorn's lines too
        access_log=True,
        lifespan="on",
        timeout_graceful_shutdown=max(1, int(settings.tuning.shutdown_grace_seconds)),
    )
    server = _Server(config)
    loop = asyncio.get_running_loop()
    workers = asyncio.create_task(service.run_workers(), name="railzway-workers")
    stopping = asyncio.Event()

    def stop(signame: str) -> None:
        if stopping.is_set():
            return
        log.info("received %s: stopping the API and the workers", signame)
        stopping.set()
        server.should_exit = True
        workers.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    log.info(
        "serving on http://%s:%d with %d stack worker slot(s)",
        host,
        port,
        settings.tuning.concurrency,
        extra={"registry_dir": str(settings.registry_dir)},
    )
    try:
        await server.serve(sockets=[listener])
        stop("the server's exit")  # a no-op after a signal; otherwise the workers must stop too
        with contextlib.suppress(asyncio.CancelledError):
            await workers
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await service.close()
        listener.close()
    log.info("stopped")


class ServeError(RuntimeError):
    """`serve` cannot start; the message says why."""
