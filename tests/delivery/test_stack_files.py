"""The committed stack files: every one is valid for the shipped registry and the shard stacks cover it.

A stack file is what `pulumi preview` in a pull request reads; a typo there would surface only in CI's
preview, against production. These tests meet it first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from devkit.mockrun import run_program
from railzway.config.stack_config import endpoint_problems, parse_stack_config
from railzway.registry import naming
from railzway.registry.loader import load_registry
from tests.conftest import PROJECT, SHIPPED_REGISTRY

STACK_FILES = sorted(PROJECT.glob("Pulumi.*.yaml"))


def shard_of(path: Path) -> tuple[str, int] | None:
    """(region, shard) of a shard stack's file, from its name (`Pulumi.prod-eu-west-01.yaml`)."""
    parsed = naming.parse_stack_name(path.name.split(".")[1])
    return None if parsed is None else (parsed[1], parsed[2])


SHARD_STACK_FILES = [f for f in STACK_FILES if shard_of(f)]


def railzway_config(path: Path) -> dict[str, Any]:
    config = yaml.safe_load(path.read_text())["config"]
    return {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith("railzway:")}


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_every_stack_file_is_valid_for_the_shipped_registry(path: Path) -> None:
    config = parse_stack_config(railzway_config(path))
    assert endpoint_problems(config, load_registry(SHIPPED_REGISTRY)) == []


@pytest.mark.parametrize("path", SHARD_STACK_FILES, ids=lambda p: p.name)
def test_a_shard_stack_file_holds_exactly_the_shard_its_name_says(path: Path) -> None:
    assert parse_stack_config(railzway_config(path)).shard_set == {shard_of(path)}


def test_the_shard_stacks_cover_every_shard_of_the_registry() -> None:
    registry = load_registry(SHIPPED_REGISTRY)
    covered = {shard_of(f) for f in SHARD_STACK_FILES}
    assert covered == set(registry.shard_sizes())


@pytest.mark.parametrize("path", SHARD_STACK_FILES, ids=lambda p: p.name)
def test_a_shard_stacks_program_declares_only_its_tenants(path: Path) -> None:
    run = run_program(SHIPPED_REGISTRY, railzway_config(path), stack=path.name.split(".")[1])
    shard = shard_of(path)
    assert shard is not None
    expected = {str(t.org_id) for t in load_registry(SHIPPED_REGISTRY).in_shards({shard})}
    assert set(run.outputs["tenants"]) == expected
