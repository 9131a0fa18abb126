"""Helpers the service's tests share: an in-loop HTTP client, waiting for requests, `serve` subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from devkit.localpg import free_port
from railzway.service.api import create_app
from railzway.service.core import Service

PROJECT = Path(__file__).resolve().parents[2]
ON_FAKE_RUNNER = Path(__file__).resolve().parent / "serve_on_fake_runner.py"
TOKEN = "test-token-0123456789abcdef"
OTHER_TOKEN = "other-token-fedcba9876543210"


def async_client(service: Service) -> httpx.AsyncClient:
    """An HTTP client for the app in the current event loop (the service must be opened by the caller)."""
    app = create_app(service, manage_service=False)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://service",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


async def wait_until_final(url: str, ids: list[str], timeout: float = 30.0) -> dict[str, str]:
    """Poll the Cloud DB until every request is succeeded or failed; their states by id."""
    deadline = time.monotonic() + timeout
    while True:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            rows = await (
                await conn.execute("SELECT id::text, state FROM railzway_requests WHERE id::text = ANY(%s)", (ids,))
            ).fetchall()
        states = {r[0]: r[1] for r in rows}
        if len(states) == len(ids) and all(s in ("succeeded", "failed") for s in states.values()):
            return states
        if time.monotonic() > deadline:
            pending = {i: s for i, s in states.items() if s not in ("succeeded", "failed")}
            raise AssertionError(f"requests not final after {timeout} s: {pending}")
        await asyncio.sleep(0.1)


class ServeProcess:
    """`python -m railzway serve` in a subprocess, its JSON log lines collected in a file.

    With `fake_runner`, the same service on `fake_runner.FakeStacks` (`serve_on_fake_runner.py`).
    """

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        extra_env: dict[str, str] | None = None,
        *,
        fake_runner: bool = False,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        environment = {**os.environ, **env, **(extra_env or {})}
        environment["PYTHONPATH"] = str(PROJECT)
        self._log = open(log_path, "ab")
        command = [str(ON_FAKE_RUNNER)] if fake_runner else ["-m", "railzway", "serve"]
        self.process = subprocess.Popen(
            [sys.executable, *command, "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=PROJECT,
            env=environment,
            stdout=self._log,
            stderr=self._log,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"serve exited with {self.process.returncode}: {self.log_path.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve did not answer within {timeout} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for line in path.read_text().splitlines():
        if line.strip():
            lines.append(json.loads(line))
    return lines
