"""Fixtures for the adoption tests: the seed's fleet on the session server, its Cloud DB, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from seed_fleet import SeedTenant, drop_seed_fleet, provision_like_the_seed, seed_cloud_db, seed_tenants

from devkit.localpg import LocalPostgres

PROJECT = Path(__file__).resolve().parents[2]

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def seed_fleet(postgres: LocalPostgres) -> Iterator[list[SeedTenant]]:
    """The seed's roles and databases on the session server (dropped after the module)."""
    tenants = seed_tenants()
    org_ids = [t.org_id for t in tenants]
    drop_seed_fleet(postgres, org_ids)
    provision_like_the_seed(postgres, tenants)
    try:
        yield tenants
    finally:
        drop_seed_fleet(postgres, org_ids)


@pytest.fixture
def seed_db(seed_fleet: list[SeedTenant], new_database: Callable[[], str], postgres: LocalPostgres) -> str:
    """A Cloud DB as the Go control plane left it for that fleet: version 4, passwords in plain text."""
    url = new_database()
    seed_cloud_db(url, seed_fleet, postgres.host, postgres.port)
    return url


@pytest.fixture
def run_adopt(seed_db: str, postgres: LocalPostgres, registry_dir: Path) -> CliRunner:
    """`python -m railzway adopt --registry <copy> --admin-url eu-west=<server> ARGS` against the seed's Cloud DB."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "RAILZWAY_CLOUD_DB_URL": seed_db, **(env or {})}
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "railzway",
                "adopt",
                "--registry",
                str(registry_dir),
                "--admin-url",
                f"eu-west={postgres.url()}",
                "--tier-map",
                "PRO=growth",
                *args,
            ],
            capture_output=True,
            text=True,
            cwd=PROJECT,
            env=environment,
            timeout=120,
        )

    return run
