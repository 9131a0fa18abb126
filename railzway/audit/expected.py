"""What the registry says one server should hold: each tenant's role, database, limits and state.

Pure: the registry in, plain values out. Both the audit and the report start from here, so they agree
on which tenants a server should have and which tier is in force for each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from railzway.audit.errors import CannotRun
from railzway.registry import naming
from railzway.registry.model import Registry, Tenant, Tier
from railzway.tenant import spec


@dataclass(frozen=True)
class ExpectedTenant:
    """One registry tenant as the server should show it."""

    org_id: int
    role: str
    database: str
    status: str
    region: str
    tier_name: str
    tier: Tier

    @property
    def terminated(self) -> bool:
        """Terminated tenants keep their role and database (data is retained) but must not log in."""
        return self.status == spec.TERMINATED

    @property
    def role_spec(self) -> spec.RoleSpec:
        """The role the server should show, by the tenant's specification."""
        return spec.role(self.org_id, self.status, self.tier.connection_limit)

    @property
    def database_spec(self) -> spec.DatabaseSpec:
        """The database the server should show, by the tenant's specification."""
        return spec.database(self.org_id, self.status, self.tier.connection_limit)


def tier_in_force(tenant: Tenant, today: dt.date) -> str:
    """The tier that applies on `today`: a scheduled downgrade takes effect from its date, not before."""
    if tenant.downgrade is not None and tenant.downgrade.at <= today:
        return tenant.downgrade.tier
    return tenant.tier


def expected_tenants(registry: Registry, region: str | None, today: dt.date) -> list[ExpectedTenant]:
    """The tenants a server should hold: those of `region`, or all of them when it is None."""
    if region is not None and region not in registry.regions.regions:
        known = ", ".join(sorted(registry.regions.regions))
        raise CannotRun(f"unknown region {region!r} (the registry's regions: {known})")
    chosen = sorted(
        (t for t in registry.tenants.values() if region is None or t.region == region), key=lambda t: t.org_id
    )
    result = []
    for tenant in chosen:
        tier_name = tier_in_force(tenant, today)
        result.append(
            ExpectedTenant(
                org_id=tenant.org_id,
                role=naming.role_name(tenant.org_id),
                database=naming.database_name(tenant.org_id),
                status=tenant.status,
                region=tenant.region,
                tier_name=tier_name,
                tier=registry.tiers.tiers[tier_name],
            )
        )
    return result
