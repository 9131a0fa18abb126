"""`move`: every refusal leaves state and registry untouched; a move moves the component, then the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fleet_fakes import RecordingStacks, stack_root, tenant_state

from railzway.engine.stacks import Changes, StackLocked
from railzway.fleet import MoveRefused, execute_move, plan_move
from railzway.registry.loader import load_registry

MakeRegistry = Callable[..., Path]
COMPONENT = "urn:pulumi:prod-eu-west-00::railzway::railzway:index:TenantInstance::org-{org}"


@pytest.fixture
def registry_path(make_registry: MakeRegistry) -> Path:
    return make_registry([{"org_id": 1001, "shard": 0}, {"org_id": 1002, "shard": 0}, {"org_id": 1003, "shard": 1}])


def deployed() -> RecordingStacks:
    """prod-eu-west-00 holds orgs 1001 and 1002; prod-eu-west-02 exists and is empty."""
    return RecordingStacks(
        state={
            "prod-eu-west-00": [
                stack_root("prod-eu-west-00"),
                *tenant_state("prod-eu-west-00", 1001),
                *tenant_state("prod-eu-west-00", 1002),
            ],
            "prod-eu-west-02": [stack_root("prod-eu-west-02")],
        }
    )


def refused(
    registry_path: Path, engine: RecordingStacks, org: int, to: int, environ: dict[str, str] | None = None
) -> str:
    before = {p.name: p.read_text() for p in (registry_path / "orgs").iterdir()}
    with pytest.raises(MoveRefused) as caught:
        plan_move(load_registry(registry_path), org, to, "prod", engine, environ or {})
    assert engine.moves == []
    assert {p.name: p.read_text() for p in (registry_path / "orgs").iterdir()} == before
    return str(caught.value)


def test_an_unknown_org_is_refused(registry_path: Path) -> None:
    assert refused(registry_path, deployed(), 4242, 1) == "org 4242 is not in the registry"


def test_a_shard_the_region_does_not_have_is_refused(registry_path: Path) -> None:
    message = refused(registry_path, deployed(), 1001, 3)
    assert message.startswith("region eu-west has shards 0-2; shard 3 does not exist")


def test_moving_to_its_own_shard_is_refused(registry_path: Path) -> None:
    assert refused(registry_path, deployed(), 1001, 0) == "org 1001 is already in shard eu-west/0: nothing to move"


def test_a_single_stack_setup_is_refused(registry_path: Path) -> None:
    message = refused(registry_path, deployed(), 1001, 2, {"RAILZWAY_STACK": "dev"})
    assert message.startswith("RAILZWAY_STACK=dev puts every tenant in one stack")


def test_a_locked_source_stack_is_refused_naming_the_holder(registry_path: Path) -> None:
    engine = deployed()
    engine.locks["prod-eu-west-00"] = ["alice@laptop (pid 77) since 2026-11-25T10:00:00Z"]
    message = refused(registry_path, engine, 1001, 2)
    assert message.startswith("stack prod-eu-west-00 is locked by a running update (alice@laptop (pid 77)")
    assert engine.calls == []


def test_a_locked_destination_stack_is_refused(registry_path: Path) -> None:
    engine = deployed()
    engine.locks["prod-eu-west-02"] = ["ci@runner (pid 9)"]
    assert refused(registry_path, engine, 1001, 2).startswith("stack prod-eu-west-02 is locked by a running update")


def test_a_tenant_never_deployed_in_its_stack_is_refused(registry_path: Path) -> None:
    engine = RecordingStacks(state={"prod-eu-west-01": [stack_root("prod-eu-west-01")]})
    message = refused(registry_path, engine, 1003, 2)
    assert message.startswith("stack prod-eu-west-01 holds no resources of org 1003")


def test_a_destination_already_holding_the_tenant_is_refused(registry_path: Path) -> None:
    engine = deployed()
    engine.state["prod-eu-west-02"] += tenant_state("prod-eu-west-02", 1001)
    assert refused(registry_path, engine, 1001, 2).startswith(
        "stack prod-eu-west-02 already holds resources of org 1001"
    )


def test_pending_changes_of_the_tenant_are_refused(registry_path: Path) -> None:
    engine = deployed()
    engine.changes = {"prod-eu-west-00": Changes(updates=1)}
    message = refused(registry_path, engine, 1001, 2)
    assert message.startswith("org 1001 has changes pending in stack prod-eu-west-00 (+0 ~1 -0)")


def test_the_plan_previews_the_tenant_alone_and_lists_what_moves(registry_path: Path) -> None:
    engine = deployed()
    plan = plan_move(load_registry(registry_path), 1001, 2, "prod", engine, {})
    assert engine.calls[0][1:] == ("prod-eu-west-00", "preview", (COMPONENT.format(org=1001),))
    assert plan.resources == tuple(r["urn"] for r in tenant_state("prod-eu-west-00", 1001))
    assert (plan.source.name, plan.dest.name, plan.dest.shards) == (
        "prod-eu-west-00",
        "prod-eu-west-02",
        ("eu-west/2",),
    )
    assert plan.text().splitlines()[0] == (
        "org 1001: shard eu-west/0 -> eu-west/2; 4 resources move from stack prod-eu-west-00 to prod-eu-west-02:"
    )


def test_a_move_moves_the_component_then_records_the_new_shard(registry_path: Path) -> None:
    engine = deployed()
    plan = plan_move(load_registry(registry_path), 1001, 2, "prod", engine, {})
    path = execute_move(plan, registry_path, engine)
    assert engine.moves == [("prod-eu-west-00", "prod-eu-west-02", (COMPONENT.format(org=1001),))]
    assert path == registry_path / "orgs" / "1001.yaml"
    after = load_registry(registry_path)
    assert after.tenants[1001].shard == 2
    assert after.tenants[1002].shard == 0


def test_a_lock_taken_after_the_plan_stops_the_move(registry_path: Path) -> None:
    engine = deployed()
    plan = plan_move(load_registry(registry_path), 1001, 2, "prod", engine, {})
    engine.locks["prod-eu-west-02"] = ["bob@ci (pid 5)"]
    with pytest.raises(MoveRefused, match="stack prod-eu-west-02 is locked"):
        execute_move(plan, registry_path, engine)
    assert engine.moves == []
    assert load_registry(registry_path).tenants[1001].shard == 0


def test_a_lock_the_engine_meets_during_the_move_is_a_refusal(registry_path: Path) -> None:
    engine = deployed()
    plan = plan_move(load_registry(registry_path), 1001, 2, "prod", engine, {})
    engine.move_error = StackLocked("prod-eu-west-00 or prod-eu-west-02")
    with pytest.raises(MoveRefused, match="nothing was moved; retry when it has finished"):
        execute_move(plan, registry_path, engine)
    assert load_registry(registry_path).tenants[1001].shard == 0
