"""`RegionHardening`: what the program declares once per region's server, beside the tenants.

PostgreSQL grants PUBLIC CONNECT and TEMPORARY on the server's own databases (`postgres`, `template1`), so
every tenant role could connect there and create temporary tables. Revoking them is declared here, per
region, so it is part of the desired state, checked by the policy pack (`server-databases-public-revoked`)
and by the audit, instead of a script someone has to remember. Several shard stacks of one region declare
the same revokes on the same server: each is idempotent, and removing it from one stack revokes nothing
back (an empty privilege list grants nothing on delete).
"""

from __future__ import annotations

import pulumi
import pulumi_postgresql as postgresql

from railzway.admin import session_rules as admin_rules

RESOURCE_TYPE = "railzway:index:RegionHardening"


def resource_name(region: str) -> str:
    return f"region-{region}"


class RegionHardening(pulumi.ComponentResource):
    """One region's server: PUBLIC keeps no privilege on `postgres` and `template1`."""

    region: str
    databases: list[str]

    def __init__(self, region: str, provider: postgresql.Provider, opts: pulumi.ResourceOptions | None = None) -> None:
        name = resource_name(region)
        super().__init__(RESOURCE_TYPE, name, {"region": region}, opts)
        grant_options = pulumi.ResourceOptions(parent=self, provider=provider)
        for database in admin_rules.SERVER_DATABASES:
            postgresql.Grant(
                f"{name}-{database}-revoke-public",
                database=database,
                role="public",
                object_type="database",
                privileges=[],
                opts=grant_options,
            )
        self.region = region
        self.databases = list(admin_rules.SERVER_DATABASES)
        self.register_outputs({"region": region, "databases": self.databases})
