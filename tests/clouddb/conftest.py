"""Cloud DB fixtures: migrated databases on the session's real server, keys, outputs, and the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import psycopg
import pytest

from railzway.clouddb import KeyRing, generate_key, parse_keys
from tests.conftest import PROJECT


@pytest.fixture
def key_text() -> str:
    return generate_key()


@pytest.fixture
def keys(key_text: str) -> KeyRing:
    return parse_keys(key_text)


@pytest.fixture
def conn(cloud_db: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to `cloud_db`, so each statement a test makes is visible to the CLI."""
    with psycopg.connect(cloud_db, autocommit=True) as connection:
        yield connection


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli(cloud_db: str, key_text: str) -> CliRunner:
    """Run `python -m railzway ARGS` with the Cloud DB and keys in its environment (override with env=)."""

    def run(
        *args: str, input: str | None = None, env: dict[str, str | None] | None = None
    ) -> subprocess.CompletedProcess[str]:
        merged: dict[str, str | None] = {
            **os.environ,
            "RAILZWAY_CLOUD_DB_URL": cloud_db,
            "RAILZWAY_CREDENTIALS_KEYS": key_text,
            **(env or {}),
        }
        environment = {k: v for k, v in merged.items() if v is not None}
        return subprocess.run(
            [sys.executable, "-m", "railzway", *args],
            input=input,
            capture_output=True,
            text=True,
            cwd=PROJECT,
            env=environment,
            timeout=120,
        )

    return run
