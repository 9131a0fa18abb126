"""Fixtures for the component tests: the program run under mocks, and registries to change."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from devkit.mockrun import ProgramRun, run_program
from railzway.registry.loader import load_registry
from railzway.registry.tenant_files import write_tenant

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED = PROJECT / "tenants"


def read_dev_config() -> dict[str, Any]:
    raw = yaml.safe_load((PROJECT / "Pulumi.dev.yaml").read_text())["config"]
    return {key.split(":", 1)[1]: value for key, value in raw.items()}


@pytest.fixture
def dev_config() -> dict[str, Any]:
    """The shipped dev stack's `railzway:` values (keys without the namespace), a fresh copy to change."""
    return read_dev_config()


def changed_registry(target: Path, changes: dict[int, dict[str, Any] | None]) -> Path:
    """A copy of the shipped registry with tenants updated ({field: value}) or removed (None)."""
    shutil.copytree(SHIPPED, target)
    registry = load_registry(target)
    for org_id, update in changes.items():
        if update is None:
            (target / "orgs" / f"{org_id}.yaml").unlink()
        else:
            write_tenant(target, registry.tenants[org_id].model_copy(update=update))
    return target


@pytest.fixture(scope="module")
def dev_run() -> ProgramRun:
    """The program over the shipped registry with the dev stack's configuration."""
    return run_program(SHIPPED, read_dev_config())


@pytest.fixture(scope="module")
def run_changed(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., ProgramRun]:
    """Run the program over the shipped registry with some tenants changed or removed."""

    def run(changes: dict[int, dict[str, Any] | None], config: dict[str, Any] | None = None) -> ProgramRun:
        registry = changed_registry(tmp_path_factory.mktemp("registry") / "tenants", changes)
        return run_program(registry, read_dev_config() if config is None else config)

    return run
