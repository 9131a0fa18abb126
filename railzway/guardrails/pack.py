"""The `railzway-tenant-guardrails` pack: every policy, with its name, description and enforcement level.

The component trusts its own conventions; these policies check whatever program declares the resources, a
hand-edited one included. They know no fact of their own: what a tenant is comes from the tenant
specification (`railzway.tenant.spec`), names from `railzway.registry.naming`, the password alphabet from
`railzway.tenant.password_rules`, the jobspec rules from `railzway.tenant.jobspec`, and the tier limits from
the registry's `tiers.yaml` alone (`tier_catalogue`) - the very values the component builds from, so the program
and the pack cannot drift apart. The rules live beside this file by what they read: one resource
(`resource_policies`) or the whole stack (`stack_policies`), both through `engine_values`, the one reader of
what the engine sends. `policy/__main__.py` serves `POLICIES` to the engine; the tests call the validators
directly. The policy names are a contract: a policy configuration (`--policy-pack-config`) names them.
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from railzway.guardrails.resource_policies import (
    connection_limit_validator,
    job_resources_validator,
    jobspec_validator,
    password_strength_validator,
    pinned_image_validator,
    role_privileges_validator,
    tenant_naming_validator,
)
from railzway.guardrails.stack_policies import (
    connection_limit_by_status_validator,
    cross_tenant_grants_validator,
    public_revoked_validator,
    server_databases_public_revoked_validator,
    tenant_parts_validator,
    terminated_role_locked_out_validator,
)
from railzway.guardrails.tier_catalogue import REGISTRY_CONFIG_SCHEMA

PACK_NAME = "railzway-tenant-guardrails"
POLICIES: list[Policy] = [
    ResourceValidationPolicy(
        name="tenant-role-no-privileges",
        description="No tenant role may be superuser, create databases or roles, replicate, or bypass row-level security.",
        validate=role_privileges_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="tenant-naming-and-ownership",
        description="Tenant objects follow the naming scheme and each tenant database is owned by its own tenant role.",
        validate=tenant_naming_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="tenant-connection-limit",
        description="Every tenant role and database has a connection limit, and it is its tier's.",
        validate=connection_limit_validator,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=REGISTRY_CONFIG_SCHEMA,
    ),
    ResourceValidationPolicy(
        name="generated-password-strength",
        description="Generated passwords are at least 32 characters and use only URL- and shell-safe characters.",
        validate=password_strength_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="nomad-jobspec-no-credentials",
        description="A Nomad jobspec contains no credential and is JSON in Nomad's API shape.",
        validate=jobspec_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="nomad-job-resources-match-tier",
        description="A Nomad job sets CPU and memory, and they match a tier in the catalogue.",
        validate=job_resources_validator,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=REGISTRY_CONFIG_SCHEMA,
    ),
    ResourceValidationPolicy(
        name="nomad-job-pinned-image",
        description="A Nomad job runs a pinned image tag (no latest, no missing tag).",
        validate=pinned_image_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="tenant-database-public-revoked",
        description="Every tenant database has a grant revoking PUBLIC's privileges on it.",
        validate=public_revoked_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="tenant-parts-unique-and-complete",
        description="No two tenants share a role, database or job name, and every tenant has all of its parts.",
        validate=tenant_parts_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="no-cross-tenant-grants",
        description="Nothing grants one tenant's role a privilege on another tenant's database.",
        validate=cross_tenant_grants_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="server-databases-public-revoked",
        description="Every server holding tenants revokes PUBLIC's privileges on its postgres and template1.",
        validate=server_databases_public_revoked_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    # A stack policy since issue 18: a tenant's status is its TenantInstance's, which only the stack view shows.
    StackValidationPolicy(
        name="terminated-tenant-locked-out",
        description="A terminated tenant's role cannot log in, has an expired password and no connections.",
        validate=terminated_role_locked_out_validator,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=REGISTRY_CONFIG_SCHEMA,
    ),
    StackValidationPolicy(
        name="tenant-connection-limit-by-status",
        description="Every tenant role's and database's connection limit is the one its tenant's status and tier set.",
        validate=connection_limit_by_status_validator,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=REGISTRY_CONFIG_SCHEMA,
    ),
]
