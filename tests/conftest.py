"""Shared fixtures: a real PostgreSQL server for the session, fresh databases, a copy of the registry."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from devkit.localpg import LocalPostgres
from railzway import clouddb

PROJECT = Path(__file__).resolve().parent.parent
SHIPPED_REGISTRY = PROJECT / "tenants"

E2E_SKIP_REASON = (
    "e2e: needs the Pulumi engine: the `pulumi` CLI on PATH and the postgresql, random and nomad plugins "
    "(see README.md, End-to-end tests)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test marked `e2e` runs with the real engine, or skips with this one reason."""
    if shutil.which("pulumi") is not None:
        return
    skip = pytest.mark.skip(reason=E2E_SKIP_REASON)
    for item in items:
        if item.get_closest_marker("e2e") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL server this test session started itself, on a free port; stopped at the end."""
    server = LocalPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def new_database(postgres: LocalPostgres) -> Iterator[Callable[[], str]]:
    """A factory of empty databases on the session's server (dropped after the test); returns admin URLs."""
    created: list[str] = []

    def make() -> str:
        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return postgres.url(name)

    yield make
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        for name in created:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def cloud_db(new_database: Callable[[], str]) -> str:
    """The admin URL of a fresh database migrated to the latest Cloud DB schema (dropped after the test)."""
    url = new_database()
    with psycopg.connect(url) as conn:
        clouddb.migrate(conn)
    return url


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped registry that a test may change."""
    target = tmp_path / "tenants"
    shutil.copytree(SHIPPED_REGISTRY, target)
    return target


@pytest.fixture(scope="session")
def railzway_command(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `railzway` console script, as `make install` puts it in the project's virtualenv.

    When this environment has it (CI after `make install`), that one; otherwise it is installed the same
    way (editable, from pyproject.toml) into a throwaway virtualenv that sees this environment's packages.
    """
    installed = Path(sys.executable).parent / "railzway"
    if installed.exists():
        return installed
    venv = tmp_path_factory.mktemp("console-script") / "venv"
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "project-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-e", PROJECT],
        check=True,
        capture_output=True,
    )
    return venv / "bin" / "railzway"
