"""Service fixtures: a migrated Cloud DB, settings with short clocks, a `Service` on the fake runner.

Everything runs against the session's real PostgreSQL. Async tests use anyio's pytest plugin on asyncio.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from fake_runner import FakeStacks
from fastapi.testclient import TestClient
from psycopg import sql
from service_helpers import OTHER_TOKEN, TOKEN, ServeProcess

from devkit.localpg import LocalPostgres
from railzway.clouddb import CLOUD_DB, generate_key, migrate
from railzway.service.api import create_app
from railzway.service.core import Service
from railzway.service.schema import SCHEMA_STEPS
from railzway.service.settings import Settings

# Short clocks: a dead worker is noticed within ~2 s, a retry waits 0.2 s.
FAST_TUNING = {
    "RAILZWAY_SERVICE_CONCURRENCY": "4",
    "RAILZWAY_SERVICE_MAX_ATTEMPTS": "3",
    "RAILZWAY_SERVICE_RETRY_BASE_SECONDS": "0.2",
    "RAILZWAY_SERVICE_HEARTBEAT_SECONDS": "0.5",
    "RAILZWAY_SERVICE_STALLED_SECONDS": "2",
    "RAILZWAY_SERVICE_RECOVERY_SECONDS": "1",
    "RAILZWAY_SERVICE_SHUTDOWN_GRACE_SECONDS": "5",
    "RAILZWAY_SERVICE_POLL_SECONDS": "0.5",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def migrated_template(postgres: LocalPostgres) -> str:
    """A database migrated once per session (`railzway migrate`'s steps), copied for each test."""
    name = f"svc_template_{secrets.token_hex(4)}"
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(postgres.url(name)) as conn:
        migrate(conn, (CLOUD_DB, *SCHEMA_STEPS))
    return name


QUEUE_TABLES = (
    "railzway_request_events",
    "railzway_requests",
    "instances",
    "stack_revisions",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)


@pytest.fixture(scope="session")
def shared_cloud_db(postgres: LocalPostgres, migrated_template: str) -> str:
    return _copy(postgres, migrated_template)


@pytest.fixture
def cloud_db(shared_cloud_db: str) -> str:
    """A migrated Cloud DB with empty tables, as `railzway migrate` leaves a new one.

    One database for the session, emptied before each test (creating one costs ~0.3 s here, emptying it
    ~20 ms); tests that kill processes use `fresh_cloud_db`.
    """
    with psycopg.connect(shared_cloud_db, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(QUEUE_TABLES)} RESTART IDENTITY CASCADE")
    return shared_cloud_db


@pytest.fixture
def fresh_cloud_db(postgres: LocalPostgres, migrated_template: str) -> Iterator[str]:
    """A database of its own, copied from the migrated template, dropped after the test."""
    url = _copy(postgres, migrated_template)
    yield url
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(url.rsplit("/", 1)[-1])))


def _copy(postgres: LocalPostgres, template: str) -> str:
    name = f"svc_{secrets.token_hex(6)}"
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    return postgres.url(name)


@pytest.fixture
def env(cloud_db: str, registry_dir: Path) -> dict[str, str]:
    """The service's environment (add it to os.environ's copy for a subprocess)."""
    return {
        "RAILZWAY_CLOUD_DB_URL": cloud_db,
        "RAILZWAY_CREDENTIALS_KEYS": generate_key(),
        "RAILZWAY_API_TOKENS": f"{TOKEN},{OTHER_TOKEN}",
        "RAILZWAY_REGISTRY_DIR": str(registry_dir),
        "RAILZWAY_ENVIRONMENT": "test",
        "PULUMI_CONFIG_PASSPHRASE": "passphrase-that-must-never-be-logged",
        **FAST_TUNING,
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


@pytest.fixture
def fake(registry_dir: Path) -> FakeStacks:
    return FakeStacks(registry_dir)


@pytest.fixture
def service(settings: Settings, fake: FakeStacks) -> Service:
    return Service(settings, runner=lambda registry: fake)


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as test_client:
        yield test_client


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def running(service: Service) -> AsyncIterator[Service]:
    """The service opened in the test's event loop (no workers: tests start them)."""
    await service.open()
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """Start `serve` subprocesses (`fake_runner=True`: on the fake runner); every one still running is killed
    at the end of the test."""
    started: list[ServeProcess] = []

    def start(
        env: dict[str, str],
        extra_env: dict[str, str] | None = None,
        name: str = "serve",
        *,
        fake_runner: bool = False,
    ) -> ServeProcess:
        process = ServeProcess(env, tmp_path / f"{name}-{len(started)}.log", extra_env, fake_runner=fake_runner)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
