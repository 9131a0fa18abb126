"""The registry model: the rules a tenant built by the service is held to, without any YAML."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from railzway.registry.loader import load_registry
from railzway.registry.model import Registry, Tenant
from tests.conftest import SHIPPED_REGISTRY


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(SHIPPED_REGISTRY)


def tenant(registry: Registry, **fields: object) -> Tenant:
    data: dict[str, object] = {"org_id": 4242, "tier": "starter", "version": "1.8.2", "region": "eu-west"} | fields
    return Tenant.model_validate(data, context=registry.context())


def test_defaults_are_running_shard_zero_and_an_initial_rotation(registry: Registry) -> None:
    t = tenant(registry)
    assert (t.status, t.shard, t.password_rotation, t.downgrade) == ("running", 0, "initial", None)


def test_an_integer_password_rotation_means_its_string(registry: Registry) -> None:
    assert tenant(registry, password_rotation=3).password_rotation == "3"


def test_a_downgrade_date_may_arrive_as_iso_text_from_the_service(registry: Registry) -> None:
    t = tenant(registry, tier="growth", downgrade={"tier": "starter", "at": "2027-01-31"})
    assert t.downgrade is not None and t.downgrade.at == dt.date(2027, 1, 31)


def test_a_tier_outside_the_catalogue_is_refused(registry: Registry) -> None:
    with pytest.raises(ValidationError, match="unknown tier 'platinum'"):
        tenant(registry, tier="platinum")


def test_latest_is_not_a_version(registry: Registry) -> None:
    with pytest.raises(ValidationError, match="is not pinned"):
        tenant(registry, version="latest")


def test_tenants_are_immutable_values(registry: Registry) -> None:
    with pytest.raises(ValidationError):
        tenant(registry).status = "stopped"


def test_in_shards_selects_a_stacks_tenants_in_org_order(registry: Registry) -> None:
    assert [t.org_id for t in registry.in_shards({("eu-west", 1)})] == [1003, 1004]
    assert [t.org_id for t in registry.in_shards(None)] == sorted(registry.tenants)


def test_shard_sizes_include_empty_shards(registry: Registry) -> None:
    assert registry.shard_sizes() == {("eu-west", 0): 3, ("eu-west", 1): 2, ("us-east", 0): 3}


def test_tier_of_gives_the_tenants_resources(registry: Registry) -> None:
    tier = registry.tier_of(registry.tenants[1001])
    assert (tier.cpu, tier.memory_mb, tier.connection_limit) == (1000, 1024, 40)
