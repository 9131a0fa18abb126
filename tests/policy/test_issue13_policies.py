"""The policies issue 13 adds, over hand-built arguments (the recorded transcripts predate them):
servers holding tenants revoke PUBLIC on `postgres` and `template1`; terminated tenants' roles are locked out
(a stack policy: the tenant's status is its TenantInstance's, as the engine shows it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi.runtime
from policy_args import as_sent, provider, stack_resource, stack_violations
from pulumi_policy import PolicyProviderResource, PolicyResource

from components.region_hardening import RESOURCE_TYPE as REGION_HARDENING_TYPE
from railzway.guardrails.engine_values import (
    DATABASE_TYPE,
    GRANT_TYPE,
    ROLE_TYPE,
    TENANT_INSTANCE_TYPE,
)
from railzway.guardrails.stack_policies import (
    server_databases_public_revoked_validator,
    terminated_role_locked_out_validator,
)
from railzway.guardrails.tier_catalogue import REGISTRY_DIR_CONFIG
from railzway.registry import naming

SHIPPED_REGISTRY = Path(__file__).resolve().parents[2] / "tenants"
SHIPPED = {REGISTRY_DIR_CONFIG: str(SHIPPED_REGISTRY)}
EU = provider("postgresql", "postgresql-eu-west")
US = provider("postgresql", "postgresql-us-east")


def tenant_database(org_id: int, server: PolicyProviderResource) -> list[PolicyResource]:
    component = stack_resource(TENANT_INSTANCE_TYPE, naming.resource_name(org_id), {"org_id": org_id})
    database = {"name": naming.database_name(org_id), "owner": naming.role_name(org_id)}
    return [component, stack_resource(DATABASE_TYPE, f"org-{org_id}-database", database, component, server)]


def hardening(region: str, server: PolicyProviderResource, privileges: Any = None) -> list[PolicyResource]:
    """RegionHardening as the stack policy sees it: `privileges=[]` arrives as null."""
    component = stack_resource(REGION_HARDENING_TYPE, f"region-{region}", {"region": region})
    return [component] + [
        stack_resource(
            GRANT_TYPE,
            f"region-{region}-{database}-revoke-public",
            {"database": database, "role": "public", "objectType": "database", "privileges": privileges},
            component,
            server,
        )
        for database in ("postgres", "template1")
    ]


def test_every_server_with_its_hardening_passes() -> None:
    resources = [
        *tenant_database(1001, EU),
        *tenant_database(2001, US),
        *hardening("eu-west", EU),
        *hardening("us-east", US, []),
    ]
    assert stack_violations(server_databases_public_revoked_validator, resources) == []


def test_a_server_without_the_hardening_is_reported_once_per_server_database() -> None:
    resources = [*tenant_database(1001, EU), *tenant_database(2001, US), *hardening("eu-west", EU)]
    violations = stack_violations(server_databases_public_revoked_validator, resources)
    assert [message.split(" but ")[0] for message, _ in violations] == [
        "The server of provider postgresql-us-east holds tenant databases (railzway_org_2001, ...)",
        "The server of provider postgresql-us-east holds tenant databases (railzway_org_2001, ...)",
    ]
    assert ["'postgres'" in violations[0][0], "'template1'" in violations[1][0]] == [True, True]
    assert violations[0][1] is not None and violations[0][1].endswith("::org-2001-database")


def test_hardening_declared_with_another_servers_provider_does_not_count() -> None:
    resources = [*tenant_database(1001, EU), *hardening("eu-west", US)]
    assert len(stack_violations(server_databases_public_revoked_validator, resources)) == 2


def test_a_grant_that_keeps_a_privilege_for_public_does_not_count() -> None:
    resources = [*tenant_database(1001, EU), *hardening("eu-west", EU, ["CONNECT"])]
    assert len(stack_violations(server_databases_public_revoked_validator, resources)) == 2


def test_a_stack_without_tenant_databases_needs_no_hardening() -> None:
    assert stack_violations(server_databases_public_revoked_validator, hardening("eu-west", EU)[:1]) == []


def terminated_role(**changes: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": naming.role_name(1005),
        "login": False,
        "validUntil": "-infinity",
        "connectionLimit": 0,
    }
    return {**props, **changes}


def tenant_role(props: dict[str, Any], status: str = "terminated", *, child: bool = True) -> list[PolicyResource]:
    """A TenantInstance as the stack policy sees it (its registered outputs) and its role, as a child or
    declared beside it."""
    org_id = naming.org_id_of_role(props["name"]) or 0
    component = stack_resource(
        TENANT_INSTANCE_TYPE,
        naming.resource_name(org_id),
        as_sent({"org_id": org_id, "status": status, "tier": "starter", "region": "eu-west"}),
    )
    role = stack_resource(ROLE_TYPE, f"org-{org_id}-role", as_sent(props), component if child else None, EU)
    return [component, role]


def test_a_locked_out_terminated_role_passes() -> None:
    violations = stack_violations(terminated_role_locked_out_validator, tenant_role(terminated_role()), SHIPPED)
    assert violations == []


def test_a_terminated_role_with_a_usable_password_and_connections_is_reported() -> None:
    resources = tenant_role(terminated_role(validUntil="infinity", connectionLimit=10))
    violations = stack_violations(terminated_role_locked_out_validator, resources, SHIPPED)
    assert violations == [
        (
            "Role 'org-1005-role' (railzway_user_1005) belongs to terminated tenant 1005 but has validUntil='infinity', "
            "connectionLimit=10: its tenant could come back in; set login=False, valid_until='-infinity', "
            "connection_limit=0.",
            resources[1].urn,
        )
    ]


def test_a_terminated_role_left_to_the_providers_defaults_is_reported() -> None:
    props = {"name": naming.role_name(1005), "login": False}
    violations = stack_violations(terminated_role_locked_out_validator, tenant_role(props), SHIPPED)
    assert len(violations) == 1 and "validUntil='infinity', connectionLimit=-1" in violations[0][0]


def test_a_role_declared_beside_its_terminated_tenants_component_is_judged_too() -> None:
    resources = tenant_role(terminated_role(login=True), child=False)
    violations = stack_violations(terminated_role_locked_out_validator, resources, SHIPPED)
    assert len(violations) == 1 and "has login=True" in violations[0][0]


def test_a_running_tenants_role_is_not_judged() -> None:
    props = {"name": naming.role_name(1001), "login": True, "validUntil": "infinity", "connectionLimit": 40}
    assert stack_violations(terminated_role_locked_out_validator, tenant_role(props, "running"), SHIPPED) == []


def test_the_status_comes_from_the_engine_not_from_the_registry_files(tmp_path: Path) -> None:
    # Tenant 1001 runs in the shipped registry; its TenantInstance says terminated, and that is what counts.
    # The registry given holds nothing but the tier catalogue: no tenant file is read.
    (tmp_path / "tiers.yaml").write_text((SHIPPED_REGISTRY / "tiers.yaml").read_text())
    props = {"name": naming.role_name(1001), "login": True, "validUntil": "infinity", "connectionLimit": 40}
    violations = stack_violations(
        terminated_role_locked_out_validator, tenant_role(props), {REGISTRY_DIR_CONFIG: str(tmp_path)}
    )
    assert len(violations) == 1 and "belongs to terminated tenant 1001 but has login=True" in violations[0][0]


def test_a_shard_stack_without_its_regions_shard_0_does_not_harden_that_server() -> None:
    # The stack of shard 0 hardens the region's server, so parallel shard stacks never race on its ACLs.
    pulumi.runtime.set_config("railzway:shards", json.dumps(["eu-west/1", "us-east/0"]))
    resources = [*tenant_database(1003, EU), *tenant_database(2001, US)]
    violations = stack_violations(server_databases_public_revoked_validator, resources)
    assert [message.split(" holds ")[0] for message, _ in violations] == [
        "The server of provider postgresql-us-east",
        "The server of provider postgresql-us-east",
    ]
