"""The stack validators over hand-built stacks: a stack of complete tenants passes, and each defect
produces exactly the violation it should, on the resource at fault."""

from __future__ import annotations

import json
from typing import Any

import pulumi.runtime
from policy_args import provider, stack_resource, stack_violations
from pulumi_policy import PolicyProviderResource, PolicyResource
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from railzway.guardrails.engine_values import (
    DATABASE_TYPE,
    DEFAULT_PRIVILEGES_TYPES,
    GRANT_ROLE_TYPE,
    GRANT_TYPE,
    NOMAD_JOB_TYPE,
    NOMAD_VARIABLE_TYPE,
    RANDOM_PASSWORD_TYPE,
    ROLE_TYPE,
    TENANT_INSTANCE_TYPE,
)
from railzway.guardrails.stack_policies import (
    cross_tenant_grants_validator,
    public_revoked_validator,
    tenant_parts_validator,
)
from railzway.registry import naming
from railzway.tenant import jobspec

EU_POSTGRES = provider("postgresql", "eu-west-postgres")
US_POSTGRES = provider("postgresql", "us-east-postgres")
EU_NOMAD = provider("nomad", "eu-west-nomad")


def tenant(
    org_id: int, *, nomad: bool = True, status: str = "running", postgres: PolicyProviderResource = EU_POSTGRES
) -> list[PolicyResource]:
    """One tenant's resources as the engine reports them after a preview: the component and its children."""
    runs_job = nomad and status != "terminated"
    component = stack_resource(
        TENANT_INSTANCE_TYPE,
        naming.resource_name(org_id),
        {
            "org_id": org_id,
            "status": status,
            "region": "eu-west" if nomad else "us-east",
            "nomad_job_id": naming.job_id(org_id) if runs_job else None,
        },
    )
    name = naming.resource_name(org_id)
    role, database = naming.role_name(org_id), naming.database_name(org_id)
    resources = [
        component,
        stack_resource(RANDOM_PASSWORD_TYPE, f"{name}-password", {"length": 32, "special": True}, component),
        stack_resource(ROLE_TYPE, f"{name}-role", {"name": role, "connectionLimit": 10}, component, postgres),
        stack_resource(DATABASE_TYPE, f"{name}-database", {"name": database, "owner": role}, component, postgres),
        stack_resource(
            GRANT_TYPE,
            f"{name}-revoke-public",
            {"database": database, "role": "public", "objectType": "database", "privileges": []},
            component,
            postgres,
        ),
    ]
    if runs_job:
        spec = jobspec.render_jobspec(
            org_id=org_id,
            image_repository="ghcr.io/smallbiznis/railzway",
            version="1.8.2",
            cpu=250,
            memory_mb=256,
            stopped=status == "stopped",
            region="global",
            namespace="default",
            datacenters=["dc1"],
        )
        resources += [
            stack_resource(
                NOMAD_VARIABLE_TYPE, f"{name}-variable", {"path": naming.variable_path(org_id)}, component, EU_NOMAD
            ),
            stack_resource(NOMAD_JOB_TYPE, f"{name}-job", {"jobspec": spec, "json": True}, component, EU_NOMAD),
        ]
    return resources


def fleet() -> list[PolicyResource]:
    return [
        *tenant(1001),
        *tenant(1004, status="stopped"),
        *tenant(1005, status="terminated"),
        *tenant(2001, nomad=False, postgres=US_POSTGRES),
    ]


def without(resources: list[PolicyResource], name: str) -> list[PolicyResource]:
    kept = [r for r in resources if r.name != name]
    assert len(kept) == len(resources) - 1, name
    return kept


def replaced(resources: list[PolicyResource], name: str, **props: Any) -> list[PolicyResource]:
    result = []
    for r in resources:
        if r.name == name:
            r = stack_resource(r.resource_type, r.name, {**r.props, **props}, r.parent, r.provider)
        result.append(r)
    return result


def test_a_fleet_of_complete_tenants_passes_every_stack_policy() -> None:
    for validator in (public_revoked_validator, tenant_parts_validator, cross_tenant_grants_validator):
        assert stack_violations(validator, fleet()) == [], validator.__name__


# --- tenant-database-public-revoked --------------------------------------------------------------


def test_a_database_without_the_revoke_grant_is_one_violation_on_that_database() -> None:
    stack = without(fleet(), "org-1001-revoke-public")
    violations = stack_violations(public_revoked_validator, stack)
    database = next(r for r in stack if r.name == "org-1001-database")
    assert len(violations) == 1
    message, urn = violations[0]
    assert urn == database.urn
    assert "Database 'org-1001-database' (railzway_org_1001) keeps PostgreSQL's default CONNECT" in message
    assert (
        "postgresql.Grant(database='railzway_org_1001', role='public', object_type='database', privileges=[])"
        in message
    )


def test_a_grant_that_leaves_connect_to_public_does_not_count_as_the_revoke() -> None:
    stack = replaced(fleet(), "org-1001-revoke-public", privileges=["CONNECT"])
    violations = stack_violations(public_revoked_validator, stack)
    assert [urn for _, urn in violations] == [next(r.urn for r in stack if r.name == "org-1001-database")]


def test_a_revoke_on_another_server_does_not_count() -> None:
    stack = replaced(fleet(), "org-1001-revoke-public")
    stack = [
        stack_resource(r.resource_type, r.name, r.props, r.parent, US_POSTGRES)
        if r.name == "org-1001-revoke-public"
        else r
        for r in stack
    ]
    violations = stack_violations(public_revoked_validator, stack)
    assert len(violations) == 1
    assert "railzway_org_1001" in violations[0][0]


def test_a_database_that_is_not_a_tenants_needs_no_revoke() -> None:
    stack = [*fleet(), stack_resource(DATABASE_TYPE, "analytics", {"name": "analytics", "owner": "postgres"})]
    assert stack_violations(public_revoked_validator, stack) == []


def revoke_with_unknown_database(stack: list[PolicyResource], org_id: int) -> PolicyResource:
    """The tenant's revoke grant as a first preview reports it: `database` is the database's unknown output."""
    old = next(r for r in stack if r.name == f"org-{org_id}-revoke-public")
    props = unknown_checking_proxy({**old.props, "database": UNKNOWN_STRING_VALUE})
    return stack_resource(GRANT_TYPE, old.name, props, old.parent, old.provider)


def test_a_revoke_whose_database_is_unknown_counts_through_its_property_dependency() -> None:
    stack = fleet()
    grant = revoke_with_unknown_database(stack, 1001)
    grant.property_dependencies["database"] = [next(r for r in stack if r.name == "org-1001-database")]
    stack = [grant if r.name == grant.name else r for r in stack]
    assert stack_violations(public_revoked_validator, stack) == []


def test_a_revoke_whose_database_is_unknown_and_unrelated_does_not_count() -> None:
    stack = fleet()
    grant = revoke_with_unknown_database(stack, 1001)
    stack = [grant if r.name == grant.name else r for r in stack]
    violations = stack_violations(public_revoked_validator, stack)
    assert [urn for _, urn in violations] == [next(r.urn for r in stack if r.name == "org-1001-database")]


# --- tenant-parts-unique-and-complete ------------------------------------------------------------


def test_a_second_resource_with_a_tenants_role_name_is_one_violation_on_the_second() -> None:
    stray = stack_resource(ROLE_TYPE, "stray-role", {"name": "railzway_user_1001", "connectionLimit": 10})
    violations = stack_violations(tenant_parts_validator, [*fleet(), stray])
    assert len(violations) == 1
    message, urn = violations[0]
    assert urn == stray.urn
    assert "role 'railzway_user_1001' is declared by both 'org-1001-role' and 'stray-role'" in message


def test_two_jobs_with_one_id_are_one_violation() -> None:
    stack = fleet()
    job = next(r for r in stack if r.name == "org-1001-job")
    copy = stack_resource(NOMAD_JOB_TYPE, "copy-job", dict(job.props), None, EU_NOMAD)
    violations = stack_violations(tenant_parts_validator, [*stack, copy])
    assert violations == [
        (
            "Nomad job 'railzway-org-1001' is declared by both 'org-1001-job' and 'copy-job': two resources would "
            "fight over one object; keep one tenant per org id and remove the other.",
            copy.urn,
        )
    ]


def test_a_running_tenant_without_its_job_is_one_violation_on_the_tenant() -> None:
    stack = without(fleet(), "org-1001-job")
    violations = stack_violations(tenant_parts_validator, stack)
    assert violations == [
        (
            "Tenant 1001 ('org-1001') is missing Nomad job railzway-org-1001; declare it through TenantInstance so "
            "every part is created together.",
            next(r.urn for r in stack if r.name == "org-1001"),
        )
    ]


def test_a_stopped_tenant_without_its_variable_is_one_violation() -> None:
    violations = stack_violations(tenant_parts_validator, without(fleet(), "org-1004-variable"))
    assert len(violations) == 1
    assert "Tenant 1004 ('org-1004') is missing Nomad variable nomad/jobs/railzway-org-1004" in violations[0][0]


def test_a_tenant_missing_database_and_revoke_lists_both_in_one_violation() -> None:
    stack = without(without(fleet(), "org-2001-database"), "org-2001-revoke-public")
    violations = stack_violations(tenant_parts_validator, stack)
    assert len(violations) == 1
    assert "is missing database railzway_org_2001, the grant revoking PUBLIC on railzway_org_2001;" in violations[0][0]


def test_terminated_tenants_and_regions_without_nomad_need_no_job() -> None:
    stack = [*tenant(1005, status="terminated"), *tenant(2001, nomad=False, postgres=US_POSTGRES)]
    assert not any(r.resource_type in (NOMAD_JOB_TYPE, NOMAD_VARIABLE_TYPE) for r in stack)
    assert stack_violations(tenant_parts_validator, stack) == []


def registered_with_inputs(stack: list[PolicyResource], org_id: int, has_nomad: bool) -> list[PolicyResource]:
    """The stack with the tenant's component carrying the inputs the program registers it with (as mocks see it)."""
    props = {"orgId": org_id, "region": "eu-west", "status": "running", "hasNomad": has_nomad}
    return [
        stack_resource(TENANT_INSTANCE_TYPE, r.name, props) if r.name == naming.resource_name(org_id) else r
        for r in stack
    ]


def test_a_component_registered_with_has_nomad_needs_its_job() -> None:
    stack = registered_with_inputs(without(fleet(), "org-1001-job"), 1001, has_nomad=True)
    violations = stack_violations(tenant_parts_validator, stack)
    assert len(violations) == 1
    assert "Tenant 1001 ('org-1001') is missing Nomad job railzway-org-1001" in violations[0][0]


def test_a_component_registered_without_nomad_needs_no_job() -> None:
    stack = without(without(fleet(), "org-1001-job"), "org-1001-variable")
    assert stack_violations(tenant_parts_validator, registered_with_inputs(stack, 1001, has_nomad=False)) == []


def claims_no_job(stack: list[PolicyResource], org_id: int) -> list[PolicyResource]:
    """The stack with the tenant's job and variable gone and its component reporting no job id."""
    stack = without(without(stack, f"org-{org_id}-job"), f"org-{org_id}-variable")
    return replaced(stack, naming.resource_name(org_id), nomad_job_id=None)


def test_the_stack_configuration_decides_whether_a_region_has_nomad() -> None:
    regions = {
        "eu-west": {"postgres": {"host": "db.eu"}, "nomad": {"address": "http://nomad.eu:4646"}},
        "us-east": {"postgres": {"host": "db.us"}},
    }
    pulumi.runtime.set_config("railzway:regions", json.dumps(regions))
    violations = stack_violations(tenant_parts_validator, claims_no_job(fleet(), 1001))
    assert len(violations) == 1
    assert "is missing Nomad variable nomad/jobs/railzway-org-1001, Nomad job railzway-org-1001;" in violations[0][0]


def test_without_stack_configuration_the_components_job_id_decides() -> None:
    assert stack_violations(tenant_parts_validator, claims_no_job(fleet(), 1001)) == []


def test_a_bare_tenant_role_outside_any_component_is_an_incomplete_tenant() -> None:
    bare = stack_resource(ROLE_TYPE, "hand-made", {"name": "railzway_user_7", "connectionLimit": 10})
    violations = stack_violations(tenant_parts_validator, [*fleet(), bare])
    assert violations == [
        (
            "Tenant 7 (declared outside a TenantInstance) is missing database railzway_org_7, the grant revoking "
            "PUBLIC on railzway_org_7; declare it through TenantInstance so every part is created together.",
            None,
        )
    ]


# --- no-cross-tenant-grants ----------------------------------------------------------------------


def test_a_grant_of_one_tenants_role_on_anothers_database_is_one_violation() -> None:
    grant = stack_resource(
        GRANT_TYPE,
        "peek",
        {
            "database": "railzway_org_1001",
            "role": "railzway_user_1004",
            "objectType": "database",
            "privileges": ["CONNECT"],
        },
    )
    violations = stack_violations(cross_tenant_grants_validator, [*fleet(), grant])
    assert violations == [
        (
            "'peek' grants tenant 1004's role railzway_user_1004 privileges on tenant 1001's database "
            "railzway_org_1001; remove it: a tenant may only reach its own database.",
            grant.urn,
        )
    ]


def test_a_grant_of_a_tenants_role_on_its_own_database_passes() -> None:
    grant = stack_resource(
        GRANT_TYPE,
        "own-schema",
        {
            "database": "railzway_org_1001",
            "role": "railzway_user_1001",
            "objectType": "schema",
            "privileges": ["USAGE"],
        },
    )
    assert stack_violations(cross_tenant_grants_validator, [*fleet(), grant]) == []


def test_default_privileges_for_another_tenants_role_are_one_violation() -> None:
    defaults = stack_resource(
        DEFAULT_PRIVILEGES_TYPES[0],
        "defaults",
        {
            "database": "railzway_org_1004",
            "role": "railzway_user_1001",
            "owner": "railzway_user_1004",
            "privileges": ["SELECT"],
        },
    )
    violations = stack_violations(cross_tenant_grants_validator, [*fleet(), defaults])
    assert len(violations) == 1
    assert "tenant 1001's role railzway_user_1001 privileges on tenant 1004's database" in violations[0][0]


def test_granting_public_access_to_a_tenant_database_is_one_violation() -> None:
    stack = replaced(fleet(), "org-1001-revoke-public", privileges=["CONNECT"])
    violations = stack_violations(cross_tenant_grants_validator, stack)
    assert len(violations) == 1
    assert "'org-1001-revoke-public' grants PUBLIC ['CONNECT'] on tenant 1001's database" in violations[0][0]


def test_membership_of_another_tenants_role_is_one_violation() -> None:
    membership = stack_resource(
        GRANT_ROLE_TYPE, "borrow", {"role": "railzway_user_1004", "grantRole": "railzway_user_1001"}
    )
    violations = stack_violations(cross_tenant_grants_validator, [*fleet(), membership])
    assert violations == [
        (
            "'borrow' makes tenant 1004's role railzway_user_1004 a member of tenant 1001's role railzway_user_1001, "
            "which owns tenant 1001's database; remove the membership.",
            membership.urn,
        )
    ]


def test_a_tenant_role_listing_another_tenants_role_is_one_violation() -> None:
    stack = replaced(fleet(), "org-1004-role", roles=["railzway_user_1001"])
    violations = stack_violations(cross_tenant_grants_validator, stack)
    assert len(violations) == 1
    assert violations[0][1] == next(r.urn for r in stack if r.name == "org-1004-role")
