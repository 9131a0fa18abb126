"""`tenant-connection-limit-by-status`: a tenant role's and database's connection limit is the one the
specification gives the status and tier its TenantInstance shows the stack policy (the engine's view), with
the tier's limit from the catalogue alone. On hand-built stacks and on the real engine's recorded views."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from policy_args import as_sent, provider, stack_resource, stack_violations
from pulumi_policy import PolicyResource
from recorded import find, needs_transcripts, stack_args, stack_rows, with_props

from railzway.guardrails.engine_values import DATABASE_TYPE, ROLE_TYPE, TENANT_INSTANCE_TYPE
from railzway.guardrails.stack_policies import connection_limit_by_status_validator
from railzway.guardrails.tier_catalogue import REGISTRY_DIR_CONFIG
from railzway.registry import naming

SHIPPED_REGISTRY = Path(__file__).resolve().parents[2] / "tenants"
SHIPPED = {REGISTRY_DIR_CONFIG: str(SHIPPED_REGISTRY)}
EU = provider("postgresql", "postgresql-eu-west")


def tenant(
    org_id: int, status: str, tier: str, role_limit: Any, database_limit: Any, *, child: bool = True
) -> list[PolicyResource]:
    """A TenantInstance with its registered outputs, its role and its database (children, or beside it)."""
    component = stack_resource(
        TENANT_INSTANCE_TYPE,
        naming.resource_name(org_id),
        as_sent({"org_id": org_id, "status": status, "tier": tier, "region": "eu-west"}),
    )
    parent = component if child else None
    role = {"name": naming.role_name(org_id), "connectionLimit": role_limit}
    database = {
        "name": naming.database_name(org_id),
        "owner": naming.role_name(org_id),
        "connectionLimit": database_limit,
    }
    return [
        component,
        stack_resource(ROLE_TYPE, f"org-{org_id}-role", as_sent(role), parent, EU),
        stack_resource(DATABASE_TYPE, f"org-{org_id}-database", as_sent(database), parent, EU),
    ]


def messages(resources: list[PolicyResource], config: dict[str, Any] | None = None) -> list[str]:
    return [
        message for message, _ in stack_violations(connection_limit_by_status_validator, resources, config or SHIPPED)
    ]


def test_each_status_with_its_tiers_limits_passes() -> None:
    resources = [
        *tenant(1001, "running", "growth", 40, 40),
        *tenant(1004, "stopped", "starter", 10, 10),
        *tenant(1005, "terminated", "growth", 0, 0),
    ]
    assert messages(resources) == []


def test_a_limit_of_another_tier_is_reported_on_the_resource() -> None:
    resources = tenant(1001, "running", "growth", 10, 40)
    violations = stack_violations(connection_limit_by_status_validator, resources, SHIPPED)
    assert violations == [
        (
            "Role 'org-1001-role' (railzway_user_1001) has connectionLimit=10, but tenant 1001 is running on tier "
            "'growth', which sets 40; set connection_limit=40.",
            resources[1].urn,
        )
    ]


def test_a_terminated_tenants_database_left_open_is_reported() -> None:
    assert messages(tenant(1005, "terminated", "growth", 0, 40)) == [
        "Database 'org-1005-database' (railzway_org_1005) has connectionLimit=40, but tenant 1005 is terminated on "
        "tier 'growth', which sets 0; set connection_limit=0."
    ]


def test_a_running_tenants_database_closed_with_zero_is_reported() -> None:
    found = messages(tenant(1001, "running", "growth", 40, 0))
    assert len(found) == 1 and "connectionLimit=0, but tenant 1001 is running" in found[0]


def test_a_role_declared_beside_its_tenants_component_is_judged_by_that_component() -> None:
    found = messages(tenant(1001, "running", "growth", 10, 40, child=False))
    assert len(found) == 1 and found[0].startswith("Role 'org-1001-role'")


def test_a_role_of_no_tenant_in_the_stack_is_left_to_the_resource_policy() -> None:
    role = stack_resource(ROLE_TYPE, "stray-role", as_sent({"name": naming.role_name(77), "connectionLimit": 3}))
    assert messages([role]) == []


def test_the_status_and_tier_come_from_the_engine_and_only_tiers_yaml_is_read(tmp_path: Path) -> None:
    # The shipped registry says 1001 runs on growth; the component says stopped on starter, and wins.
    (tmp_path / "tiers.yaml").write_text((SHIPPED_REGISTRY / "tiers.yaml").read_text())
    config = {REGISTRY_DIR_CONFIG: str(tmp_path)}
    assert messages(tenant(1001, "stopped", "starter", 10, 10), config) == []
    assert len(messages(tenant(1001, "stopped", "starter", 40, 10), config)) == 1


def test_a_stack_without_tenants_reads_no_catalogue(tmp_path: Path) -> None:
    config = {REGISTRY_DIR_CONFIG: str(tmp_path / "nowhere")}
    assert messages([stack_resource(ROLE_TYPE, "other", as_sent({"name": "app", "connectionLimit": -1}))], config) == []


def test_an_unreadable_catalogue_is_one_violation_naming_it(tmp_path: Path) -> None:
    found = messages(tenant(1001, "running", "growth", 40, 40), {REGISTRY_DIR_CONFIG: str(tmp_path)})
    assert len(found) == 1 and f"the registry at {tmp_path} is invalid" in found[0]


@needs_transcripts
@pytest.mark.parametrize("view", ["preview-nomad", "up", "preview-nochange"])
def test_a_recorded_terminated_tenants_database_given_its_tiers_limit_is_caught(view: str) -> None:
    # org-1005 is terminated on starter in the recording; its database was closed with 0.
    rows = with_props(stack_rows(view), "org-1005-database", connectionLimit=10.0)
    violations = stack_violations(connection_limit_by_status_validator, stack_args(rows, SHIPPED).resources, SHIPPED)
    assert violations == [
        (
            "Database 'org-1005-database' (railzway_org_1005) has connectionLimit=10, but tenant 1005 is terminated "
            "on tier 'starter', which sets 0; set connection_limit=0.",
            find(rows, "org-1005-database")["urn"],
        )
    ]


@needs_transcripts
@pytest.mark.parametrize("view", ["preview-nomad", "up", "preview-nochange"])
def test_a_recorded_role_given_another_tiers_limit_is_caught(view: str) -> None:
    rows = with_props(stack_rows(view), "org-1001-role", connectionLimit=10.0)
    violations = stack_violations(connection_limit_by_status_validator, stack_args(rows, SHIPPED).resources, SHIPPED)
    assert [urn for _, urn in violations] == [find(rows, "org-1001-role")["urn"]]
