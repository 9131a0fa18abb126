"""Shard assignment and the stack scheme: pure functions over real registry files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fleet_fakes import write_registry

from railzway.registry import naming
from railzway.registry.loader import load_registry
from railzway.registry.shards import (
    ShardStack,
    assign_shards,
    changed_stacks,
    has_recorded_shard,
    least_loaded_shard,
    owns_region_singletons,
    parse_shard_key,
    placed_sizes,
    shard_key,
    stack_of,
    stacks_of,
    tenants_of,
    unplaced,
    with_shard,
)

MakeRegistry = Callable[..., Path]


def test_least_loaded_shard_is_the_one_with_fewest_tenants(make_registry: MakeRegistry) -> None:
    registry = load_registry(
        make_registry(
            [
                {"org_id": 1, "shard": 0},
                {"org_id": 2, "shard": 0},
                {"org_id": 3, "shard": 1},
                {"org_id": 4, "shard": 2},
                {"org_id": 5, "shard": 2},
            ]
        )
    )
    assert least_loaded_shard(registry, "eu-west") == 1


def test_ties_go_to_the_lowest_shard_number(make_registry: MakeRegistry) -> None:
    registry = load_registry(make_registry([{"org_id": 1, "shard": 0}]))
    assert least_loaded_shard(registry, "eu-west") == 1


def test_an_empty_region_starts_at_shard_zero(make_registry: MakeRegistry) -> None:
    registry = load_registry(make_registry([{"org_id": 1, "shard": 0}]))
    assert least_loaded_shard(registry, "us-east") == 0


def test_other_regions_do_not_count_toward_a_regions_load(make_registry: MakeRegistry) -> None:
    registry = load_registry(make_registry([{"org_id": 1, "region": "us-east", "shard": 0}, {"org_id": 2, "shard": 1}]))
    assert least_loaded_shard(registry, "eu-west") == 0


def test_unknown_region_is_refused_naming_the_known_ones(make_registry: MakeRegistry) -> None:
    registry = load_registry(make_registry([]))
    with pytest.raises(ValueError, match=r"unknown region 'ap-south' \(known: eu-west, us-east\)"):
        least_loaded_shard(registry, "ap-south")


def test_a_file_without_shard_is_unplaced_and_not_counted(make_registry: MakeRegistry) -> None:
    registry = load_registry(make_registry([{"org_id": 1}, {"org_id": 2, "shard": 0}]), unplaced_ok=True)
    assert [t.org_id for t in unplaced(registry)] == [1]
    assert not has_recorded_shard(registry.tenants[1])
    assert placed_sizes(registry)[("eu-west", 0)] == 1


def test_assigning_several_tenants_spreads_them_counting_each_placement(make_registry: MakeRegistry) -> None:
    registry = load_registry(
        make_registry(
            [{"org_id": 1, "shard": 0}, {"org_id": 2, "shard": 0}, {"org_id": 3, "shard": 2}]
            + [{"org_id": org} for org in (10, 11, 12, 13)]
        ),
        unplaced_ok=True,
    )
    assigned = assign_shards(registry, unplaced(registry))
    # Loads before: shard 0: 2, shard 1: 0, shard 2: 1.
    assert [(t.org_id, t.shard) for t in assigned] == [(10, 1), (11, 1), (12, 2), (13, 0)]
    assert all(has_recorded_shard(t) for t in assigned)


def test_with_shard_refuses_a_shard_the_region_does_not_have(make_registry: MakeRegistry) -> None:
    registry = load_registry(make_registry([{"org_id": 1, "shard": 0}]))
    with pytest.raises(ValueError, match="region 'eu-west' has shards 0-2; shard 3 does not exist"):
        with_shard(registry, registry.tenants[1], 3)


def test_stack_names_follow_the_scheme_and_parse_back() -> None:
    stack = ShardStack("prod", "eu-west", 3)
    assert stack.name == "prod-eu-west-03"
    assert naming.parse_stack_name(stack.name) == ("prod", "eu-west", 3)
    assert stack.shards_config() == ["eu-west/3"]


def test_every_shard_of_every_region_has_one_stack_including_empty_ones(make_registry: MakeRegistry) -> None:
    registry = load_registry(make_registry([{"org_id": 1, "shard": 2}]))
    assert [s.name for s in stacks_of(registry, "staging")] == [
        "staging-eu-west-00",
        "staging-eu-west-01",
        "staging-eu-west-02",
        "staging-us-east-00",
    ]


def test_a_tenants_stack_is_its_region_and_shard(make_registry: MakeRegistry) -> None:
    registry = load_registry(make_registry([{"org_id": 7, "region": "us-east", "shard": 0}]))
    assert stack_of(registry.tenants[7], "prod").name == "prod-us-east-00"


def test_a_stack_holds_exactly_the_tenants_of_its_shard(make_registry: MakeRegistry) -> None:
    registry = load_registry(
        make_registry([{"org_id": 3, "shard": 1}, {"org_id": 1, "shard": 1}, {"org_id": 2, "shard": 0}])
    )
    assert [t.org_id for t in tenants_of(registry, ShardStack("prod", "eu-west", 1))] == [1, 3]


def test_shard_keys_round_trip_and_bad_ones_are_named() -> None:
    assert parse_shard_key(shard_key("eu-west", 12)) == ("eu-west", 12)
    with pytest.raises(ValueError, match="'eu-west' is not a shard"):
        parse_shard_key("eu-west")
    with pytest.raises(ValueError, match="'eu-west/03' is not a shard"):
        parse_shard_key("eu-west/03")


def test_identical_registries_change_no_stack(make_registry: MakeRegistry) -> None:
    registry = load_registry(make_registry([{"org_id": 1, "shard": 0}]))
    assert changed_stacks(registry, registry, "prod") == []


def test_a_changed_tenant_changes_only_its_stack(tmp_path: Path) -> None:
    base = load_registry(write_registry(tmp_path / "a", [{"org_id": 1, "shard": 0}, {"org_id": 2, "shard": 1}]))
    head = load_registry(
        write_registry(tmp_path / "b", [{"org_id": 1, "shard": 0}, {"org_id": 2, "shard": 1, "version": "1.9.0"}])
    )
    assert [s.name for s in changed_stacks(base, head, "prod")] == ["prod-eu-west-01"]


def test_a_moved_tenant_changes_both_stacks(tmp_path: Path) -> None:
    base = load_registry(write_registry(tmp_path / "a", [{"org_id": 1, "shard": 0}]))
    head = load_registry(write_registry(tmp_path / "b", [{"org_id": 1, "shard": 2}]))
    assert [s.name for s in changed_stacks(base, head, "prod")] == ["prod-eu-west-00", "prod-eu-west-02"]


def test_a_tier_change_changes_the_stacks_whose_tenants_use_it(tmp_path: Path) -> None:
    tenants = [{"org_id": 1, "shard": 0, "tier": "growth"}, {"org_id": 2, "shard": 1, "tier": "starter"}]
    base = load_registry(write_registry(tmp_path / "a", tenants))
    head_dir = write_registry(tmp_path / "b", tenants)
    tiers = (head_dir / "tiers.yaml").read_text().replace("cpu: 1000", "cpu: 1500")
    (head_dir / "tiers.yaml").write_text(tiers)
    assert [s.name for s in changed_stacks(base, load_registry(head_dir), "prod")] == ["prod-eu-west-00"]


def test_without_a_base_registry_every_stack_holding_a_tenant_changed(make_registry: MakeRegistry) -> None:
    head = load_registry(make_registry([{"org_id": 1, "shard": 2}, {"org_id": 2, "region": "us-east", "shard": 0}]))
    assert [s.name for s in changed_stacks(None, head, "prod")] == ["prod-eu-west-02", "prod-us-east-00"]


def test_lowering_the_shard_capacity_moves_no_placed_tenant(tmp_path: Path) -> None:
    placed = [{"org_id": org, "shard": org % 2} for org in range(1, 7)]
    roomy = load_registry(write_registry(tmp_path / "roomy", placed, regions={"eu-west": 2}, max_per_shard=100))
    tight = load_registry(write_registry(tmp_path / "tight", placed, regions={"eu-west": 2}, max_per_shard=2))
    assert {o: t.shard for o, t in tight.tenants.items()} == {o: t.shard for o, t in roomy.tenants.items()}
    assert unplaced(tight) == []
    assert changed_stacks(roomy, tight, "prod") == []


def test_a_regions_new_shard_takes_the_new_tenants_and_the_old_ones_stay(tmp_path: Path) -> None:
    placed = [{"org_id": org, "shard": 0} for org in (1, 2, 3)]
    grown = load_registry(
        write_registry(tmp_path, [*placed, {"org_id": 10}, {"org_id": 11}], regions={"eu-west": 2}, max_per_shard=3),
        unplaced_ok=True,
    )
    assigned = assign_shards(grown, unplaced(grown))
    assert [(t.org_id, t.shard) for t in assigned] == [(10, 1), (11, 1)]
    assert [grown.tenants[org].shard for org in (1, 2, 3)] == [0, 0, 0]


def test_a_regions_one_per_region_objects_belong_to_the_stack_of_its_shard_zero() -> None:
    assert owns_region_singletons("eu-west", {("eu-west", 0), ("eu-west", 1)})
    assert not owns_region_singletons("eu-west", {("eu-west", 1)})
    assert not owns_region_singletons("us-east", {("eu-west", 0)})
    assert owns_region_singletons("us-east", None)  # a stack holding every tenant (dev)
