"""What each action does to a tenant, as pure functions of registry values (no file, no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from railzway.registry.loader import load_registry
from railzway.registry.model import Registry, ScheduledDowngrade, Tenant
from railzway.service.actions import (
    Action,
    DeployBody,
    DowngradeBody,
    EmptyBody,
    Rejected,
    fingerprint,
    parse_org_id,
    plan,
)
from tests.conftest import SHIPPED_REGISTRY

TODAY = dt.date(2026, 11, 25)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(SHIPPED_REGISTRY)


def run(registry: Registry, action: Action, org_id: int, body: object = None, shard: int = 1) -> Tenant:
    change = plan(
        action,
        org_id,
        registry.tenants.get(org_id),
        body or EmptyBody(),  # type: ignore[arg-type]
        registry,
        today=TODAY,
        request_id="req-1",
        new_shard=lambda region: shard,
    )
    return change.tenant


def rejection(registry: Registry, action: Action, org_id: int, body: object = None) -> Rejected:
    with pytest.raises(Rejected) as caught:
        run(registry, action, org_id, body)
    return caught.value


def test_deploy_creates_a_tenant_in_the_default_region_and_the_given_shard(registry: Registry) -> None:
    tenant = run(registry, Action.deploy, 77, DeployBody(version="2.0.0", tier="growth"), shard=1)
    assert (tenant.org_id, tenant.region, tenant.shard, tenant.status) == (77, "eu-west", 1, "running")
    assert tenant.password_rotation == "initial"


def test_deploy_changes_version_and_tier_and_drops_a_scheduled_downgrade(registry: Registry) -> None:
    assert registry.tenants[1003].downgrade is not None
    tenant = run(registry, Action.deploy, 1003, DeployBody(version="1.9.0", tier="starter"))
    assert (tenant.version, tenant.tier, tenant.downgrade) == ("1.9.0", "starter", None)
    assert (tenant.region, tenant.shard) == (registry.tenants[1003].region, registry.tenants[1003].shard)


def test_deploy_summary_lists_what_changed(registry: Registry) -> None:
    change = plan(
        Action.deploy,
        1001,
        registry.tenants[1001],
        DeployBody(version="1.9.0", tier="growth"),
        registry,
        today=TODAY,
        request_id="r",
        new_shard=lambda region: 0,
    )
    assert change.summary() == {"created": False, "changes": {"version": {"from": "1.8.2", "to": "1.9.0"}}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (DeployBody(version="latest", tier="growth"), "version"),
        (DeployBody(version="has space", tier="growth"), "version"),
        (DeployBody(version="1.0.0", tier="gold"), "tier"),
        (DeployBody(version="1.0.0", tier="growth", region="mars"), "region"),
    ],
)
def test_deploy_rejections_name_the_field(registry: Registry, body: DeployBody, field: str) -> None:
    rejected = rejection(registry, Action.deploy, 77, body)
    assert (rejected.status, rejected.field) == (422, field)


def test_a_tenant_does_not_move_region(registry: Registry) -> None:
    rejected = rejection(registry, Action.deploy, 1001, DeployBody(version="1.0.0", tier="growth", region="us-east"))
    assert (rejected.status, rejected.field) == (422, "region")
    assert "eu-west" in rejected.message


def test_a_new_shard_is_only_chosen_for_a_valid_new_tenant(registry: Registry) -> None:
    asked: list[str] = []

    def new_shard(region: str) -> int:
        asked.append(region)
        return 0

    with pytest.raises(Rejected):
        plan(
            Action.deploy,
            77,
            None,
            DeployBody(version="latest", tier="growth"),
            registry,
            today=TODAY,
            request_id="r",
            new_shard=new_shard,
        )
    assert asked == []


@pytest.mark.parametrize(
    ("action", "status"), [(Action.stop, "stopped"), (Action.start, "running"), (Action.terminate, "terminated")]
)
def test_lifecycle_actions_set_the_status(registry: Registry, action: Action, status: str) -> None:
    assert run(registry, action, 1004).status == status


def test_rotation_sets_the_request_id(registry: Registry) -> None:
    assert run(registry, Action.rotate_password, 1001).password_rotation == "req-1"


@pytest.mark.parametrize("action", [Action.stop, Action.start, Action.rotate_password, Action.terminate])
def test_unknown_org_is_404(registry: Registry, action: Action) -> None:
    rejected = rejection(registry, action, 77)
    assert (rejected.status, rejected.field) == (404, "org_id")


@pytest.mark.parametrize(
    ("action", "body"),
    [
        (Action.start, None),
        (Action.deploy, DeployBody(version="2.0.0", tier="growth")),
        (Action.rotate_password, None),
        (Action.downgrade, DowngradeBody(tier="growth", at=TODAY)),
    ],
)
def test_a_terminated_tenant_is_not_changed(registry: Registry, action: Action, body: object) -> None:
    rejected = rejection(registry, action, 1005, body)
    assert (rejected.status, rejected.field) == (409, "org_id")


def test_terminating_a_terminated_tenant_is_a_no_op(registry: Registry) -> None:
    change = plan(
        Action.terminate,
        1005,
        registry.tenants[1005],
        EmptyBody(),
        registry,
        today=TODAY,
        request_id="r",
        new_shard=lambda region: 0,
    )
    assert change.changes == {}


def test_a_future_downgrade_is_scheduled(registry: Registry) -> None:
    later = TODAY + dt.timedelta(days=30)
    tenant = run(registry, Action.downgrade, 1001, DowngradeBody(tier="starter", at=later))
    assert (tenant.tier, tenant.downgrade) == ("growth", ScheduledDowngrade(tier="starter", at=later))


def test_a_downgrade_dated_today_applies_at_once(registry: Registry) -> None:
    tenant = run(registry, Action.downgrade, 1001, DowngradeBody(tier="starter", at=TODAY))
    assert (tenant.tier, tenant.downgrade) == ("starter", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (DowngradeBody(tier="starter", at=TODAY - dt.timedelta(days=1)), "at"),
        (DowngradeBody(tier="gold", at=TODAY), "tier"),
        (DowngradeBody(tier="growth", at=TODAY), "tier"),
    ],
)
def test_downgrade_rejections_name_the_field(registry: Registry, body: DowngradeBody, field: str) -> None:
    rejected = rejection(registry, Action.downgrade, 1001, body)
    assert (rejected.status, rejected.field) == (422, field)


@pytest.mark.parametrize("at", [TODAY, TODAY + dt.timedelta(days=30)])
def test_a_downgrade_to_a_higher_tier_is_refused_today_or_later(registry: Registry, at: dt.date) -> None:
    assert registry.tenants[1002].tier == "starter"
    rejected = rejection(registry, Action.downgrade, 1002, DowngradeBody(tier="growth", at=at))
    assert (rejected.status, rejected.field) == (422, "tier")
    assert rejected.message.startswith("tier 'growth' is not lower than")


def test_the_scheduled_downgrade_applies_only_when_due(registry: Registry) -> None:
    due_on = registry.tenants[1003].downgrade
    assert due_on is not None
    with pytest.raises(Rejected) as early:
        plan(
            Action.scheduled_downgrade,
            1003,
            registry.tenants[1003],
            EmptyBody(),
            registry,
            today=due_on.at - dt.timedelta(days=1),
            request_id="r",
            new_shard=lambda region: 0,
        )
    assert early.value.status == 409
    tenant = plan(
        Action.scheduled_downgrade,
        1003,
        registry.tenants[1003],
        EmptyBody(),
        registry,
        today=due_on.at,
        request_id="r",
        new_shard=lambda region: 0,
    ).tenant
    assert (tenant.tier, tenant.downgrade) == (due_on.tier, None)


@pytest.mark.parametrize("text", ["0", "-1", "01", "1.5", "abc", "", "٣", "9223372036854775808", "1" * 20])
def test_malformed_org_ids_are_400(text: str) -> None:
    with pytest.raises(Rejected) as caught:
        parse_org_id(text)
    assert (caught.value.status, caught.value.field) == (400, "org_id")


def test_the_largest_org_id_is_accepted() -> None:
    assert parse_org_id("9223372036854775807") == 2**63 - 1


def test_fingerprints_tell_requests_apart() -> None:
    deploy = DeployBody(version="1.0.0", tier="growth")
    assert fingerprint(1, Action.deploy, deploy) == fingerprint(
        1, Action.deploy, DeployBody(version="1.0.0", tier="growth")
    )
    assert fingerprint(1, Action.deploy, deploy) != fingerprint(2, Action.deploy, deploy)
    assert fingerprint(1, Action.stop, EmptyBody()) != fingerprint(1, Action.start, EmptyBody())


def test_deploy_names_every_bad_field_at_once(registry: Registry) -> None:
    rejected = rejection(registry, Action.deploy, 77, DeployBody(version="latest", tier="gold", region="mars"))
    assert rejected.status == 422
    assert [field for field, _ in rejected.problems] == ["tier", "version", "region"]
    assert "unknown tier 'gold'" in rejected.problems[0][1]
    assert "'latest' is not pinned" in rejected.problems[1][1]


def test_deploy_of_an_existing_tenant_names_every_bad_field_at_once(registry: Registry) -> None:
    rejected = rejection(registry, Action.deploy, 1001, DeployBody(version="latest", tier="gold", region="us-east"))
    assert sorted(field for field, _ in rejected.problems) == ["region", "tier", "version"]


def test_a_downgrade_names_a_bad_tier_and_a_past_date_together(registry: Registry) -> None:
    body = DowngradeBody(tier="gold", at=TODAY - dt.timedelta(days=1))
    rejected = rejection(registry, Action.downgrade, 1001, body)
    assert [field for field, _ in rejected.problems] == ["tier", "at"]
