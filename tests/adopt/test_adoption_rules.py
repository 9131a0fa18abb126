"""The adoption rules (`railzway.adopt.plan`): pure, from Cloud DB rows and what the servers hold."""

from __future__ import annotations

from dataclasses import replace

import pytest

from railzway.adopt.plan import LiveTenant, map_status, map_tier, plan_adoption
from railzway.clouddb.seed import SeedInstance
from railzway.registry.loader import load_registry
from railzway.registry.model import Registry
from tests.conftest import SHIPPED_REGISTRY

ORG = 4242
HEALTHY = LiveTenant(
    role_exists=True, database_owner=f"railzway_user_{ORG}", database_encoding="UTF8", password_matches=True
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(SHIPPED_REGISTRY)


def instance(**changes: object) -> SeedInstance:
    base = SeedInstance(
        org_id=ORG,
        nomad_job_id=f"railzway-org-{ORG}",
        desired_version="1.8.2",
        current_version="1.8.2",
        status="running",
        tier="starter",
        subscription_id=None,
        db_host="db1",
        db_port=5432,
        db_name=f"railzway_org_{ORG}",
        db_user=f"railzway_user_{ORG}",
        password_encrypted=False,
        password="p" * 32,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def reasons(registry: Registry, seed: SeedInstance, live: dict[str, LiveTenant] | None = None) -> tuple[str, ...]:
    plan = plan_adoption(registry, [seed], {ORG: live if live is not None else {"eu-west": HEALTHY}}, {})
    assert not plan.adopted
    return plan.refused[0].reasons


@pytest.mark.parametrize(
    ("seed", "ours"),
    [("running", "running"), ("Upgrading", "running"), ("downgrade-scheduled", "running"), ("STOPPED", "stopped")],
)
def test_seed_statuses_map_onto_ours(seed: str, ours: str) -> None:
    assert map_status(seed) == (ours, None)


def test_a_status_the_seed_never_finished_is_refused() -> None:
    assert map_status("provisioning") == (
        None,
        "status 'provisioning': the Go control plane never finished provisioning it",
    )


def test_a_tier_is_matched_case_insensitively_or_through_the_map(registry: Registry) -> None:
    assert map_tier("GROWTH", registry, {}) == ("growth", None)
    assert map_tier("PRO", registry, {"pro": "growth"}) == ("growth", None)
    assert map_tier(None, registry, {"none": "starter"}) == ("starter", None)


def test_an_unknown_tier_names_the_option_that_maps_it(registry: Registry) -> None:
    assert map_tier("FREE_TRIAL", registry, {}) == (
        None,
        "tier 'FREE_TRIAL' is not in tiers.yaml (known: growth, starter); map it with --tier-map free_trial=<tier>",
    )


def test_a_database_in_another_encoding_is_refused(registry: Registry) -> None:
    live = {"eu-west": replace(HEALTHY, database_encoding="LATIN1")}
    assert reasons(registry, instance(), live) == (
        f"database railzway_org_{ORG} is LATIN1, not UTF8: our declaration would replace it (an encoding cannot "
        "change in place)",
    )


def test_a_password_a_sync_already_encrypted_is_refused(registry: Registry) -> None:
    found = reasons(registry, instance(password_encrypted=True, password=None))
    assert found[0].startswith("its Cloud DB password is already encrypted, so a stack held it before")


def test_objects_on_two_servers_are_refused(registry: Registry) -> None:
    found = reasons(registry, instance(), {"eu-west": HEALTHY, "us-east": HEALTHY})
    assert found == ("its objects are on several servers (eu-west, us-east)",)


def test_an_unpinned_version_is_refused(registry: Registry) -> None:
    found = reasons(registry, instance(desired_version="latest"))
    assert found == ("version 'latest' is not pinned: name the exact version to run",)


def test_the_region_is_the_server_that_holds_the_objects(registry: Registry) -> None:
    plan = plan_adoption(registry, [instance()], {ORG: {"us-east": HEALTHY}}, {})
    assert [(a.tenant.region, a.tenant.shard, a.tenant.password_rotation) for a in plan.adopted] == [
        ("us-east", 0, "adopted")
    ]


def test_a_scheduled_downgrade_is_adopted_with_a_note(registry: Registry) -> None:
    plan = plan_adoption(registry, [instance(status="downgrade_scheduled")], {ORG: {"eu-west": HEALTHY}}, {})
    assert plan.adopted[0].notes == (
        "a downgrade was scheduled, but the Cloud DB does not record its tier or date: add a `downgrade:` block by hand",
    )


def test_an_instance_already_in_the_registry_is_left_alone(registry: Registry) -> None:
    plan = plan_adoption(registry, [instance(org_id=1001)], {}, {})
    assert (plan.already, plan.adopted, plan.refused) == ([1001], [], [])
