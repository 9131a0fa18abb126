"""Which stack hardens a region's server: the one holding its shard 0, or a stack holding every tenant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from devkit.mockrun import run_program
from tests.conftest import PROJECT, SHIPPED_REGISTRY

HARDENING = "railzway:index:RegionHardening"


def dev_config(**changes: Any) -> dict[str, Any]:
    raw = yaml.safe_load((PROJECT / "Pulumi.dev.yaml").read_text())["config"]
    return {key.split(":", 1)[1]: value for key, value in raw.items()} | changes


def hardened(config: dict[str, Any], registry: Path = SHIPPED_REGISTRY) -> list[str]:
    return sorted(r.name for r in run_program(registry, config).of_type(HARDENING))


def test_a_stack_holding_every_tenant_hardens_every_region_it_serves() -> None:
    assert hardened(dev_config()) == ["region-eu-west", "region-us-east"]


def test_the_stack_of_a_regions_shard_0_hardens_that_region_only() -> None:
    assert hardened(dev_config(shards=["eu-west/0"])) == ["region-eu-west"]


def test_a_stack_of_other_shards_leaves_the_server_to_shard_0s_stack() -> None:
    assert hardened(dev_config(shards=["eu-west/1"])) == []


def test_the_hardening_grants_revoke_everything_from_public_on_the_servers_own_databases() -> None:
    run = run_program(SHIPPED_REGISTRY, dev_config(shards=["us-east/0"]))
    grants = {r.name: r.inputs for r in run.of_type("postgresql:index/grant:Grant") if r.name.startswith("region-")}
    assert grants == {
        f"region-us-east-{database}-revoke-public": {
            "database": database,
            "role": "public",
            "objectType": "database",
            "privileges": [],
        }
        for database in ("postgres", "template1")
    }
    assert {r.provider for r in run.of_type("postgresql:index/grant:Grant") if r.name.startswith("region-")} == {
        next(p.urn for p in run.of_type("pulumi:providers:postgresql") if p.name == "postgresql-us-east")
    }
