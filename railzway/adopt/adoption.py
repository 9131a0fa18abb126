"""`adopt`: read the seed's Cloud DB and each region's server, decide, and write the tenant files.

The files are the whole of adoption's output: the first `pulumi up` of each stack then imports the role,
the database and a running tenant's job (the program reads the still plain-text Cloud DB row to know it
must), keeps the seed's password, and the sync after it encrypts that password. Running `adopt` again
finds every adopted instance in the registry and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from railzway import clouddb
from railzway.adopt.live_server import read_server
from railzway.adopt.plan import AdoptionPlan, LiveTenant, plan_adoption
from railzway.audit.errors import CannotRun
from railzway.clouddb import seed
from railzway.registry import naming
from railzway.registry.loader import tenant_path
from railzway.registry.model import Registry
from railzway.registry.tenant_files import tenant_text, write_tenant


@dataclass(frozen=True)
class AdoptionResult:
    version: int
    """The Cloud DB's migration version."""
    instances: int
    plan: AdoptionPlan
    dry_run: bool
    written: list[Path] = field(default_factory=list)


def run_adoption(
    registry_dir: Path,
    registry: Registry,
    admin_urls: Mapping[str, str],
    tier_map: Mapping[str, str],
    *,
    dry_run: bool,
    environ: Mapping[str, str],
) -> AdoptionResult:
    """Plan the adoption and, unless `dry_run`, write one file per adopted instance. CannotRun when it cannot."""
    unknown = sorted(set(admin_urls) - set(registry.regions.regions))
    if unknown:
        known = ", ".join(sorted(registry.regions.regions))
        raise CannotRun(f"unknown region {', '.join(unknown)} in --admin-url (the registry's regions: {known})")
    try:
        with clouddb.connect(clouddb.cloud_db_url(environ), application_name="railzway-adopt") as conn:
            version = seed.schema_version(conn)
            instances = seed.read_instances(conn)
    except (clouddb.CloudDBUnavailable, seed.SeedSchemaError) as e:
        raise CannotRun(str(e)) from None
    except psycopg.Error as e:
        raise CannotRun(f"reading the Cloud DB failed: {clouddb.database_error(e)}") from None
    candidates = [i for i in instances if i.org_id not in registry.tenants]
    passwords = {i.org_id: i.password for i in candidates if i.password is not None}
    live: dict[int, dict[str, LiveTenant]] = {}
    for region, url in sorted(admin_urls.items()):
        for org_id, held in read_server(url, [i.org_id for i in candidates], passwords).items():
            live.setdefault(org_id, {})[region] = held
    plan = plan_adoption(registry, instances, live, tier_map)
    written = [] if dry_run else [write_tenant(registry_dir, adopted.tenant) for adopted in plan.adopted]
    return AdoptionResult(version, len(instances), plan, dry_run, written)


def render(result: AdoptionResult, registry_dir: Path) -> str:
    """What adopt did (or would do), for the operator. Never a password: the plan holds none."""
    plan = result.plan
    lines = [
        f"Cloud DB at version {result.version}: {result.instances} instance{'s' * (result.instances != 1)}; "
        f"{len(plan.adopted)} to adopt, {len(plan.already)} already in the registry, {len(plan.refused)} refused"
        + (" (dry run: nothing written)" if result.dry_run else "")
    ]
    verb = "would write" if result.dry_run else "wrote"
    for adopted in plan.adopted:
        tenant = adopted.tenant
        org_id = tenant.org_id
        lines.append(
            f"{verb} {tenant_path(registry_dir, org_id)} (seed status {adopted.seed_status!r} -> {tenant.status}, "
            f"tier {adopted.seed_tier!r} -> {tenant.tier}, shard {tenant.region}/{tenant.shard})"
        )
        if result.dry_run:
            lines += [f"    {line}" for line in tenant_text(tenant).splitlines()]
        imports = [f"role {naming.role_name(org_id)}", f"database {naming.database_name(org_id)}"]
        if tenant.status == "running":
            imports.append(f"Nomad job {naming.job_id(org_id)} (in regions with Nomad; its variable is created)")
        lines.append(f"  first up imports: {', '.join(imports)}; password kept from the Cloud DB (never printed)")
        lines += [f"  note: {note}" for note in adopted.notes]
    if plan.refused:
        lines.append(
            f"refused {len(plan.refused)} instance{'s' * (len(plan.refused) != 1)} (no file written for them):"
        )
        lines += [f"  org {refused.org_id}: {'; '.join(refused.reasons)}" for refused in plan.refused]
    if plan.adopted and not result.dry_run:
        lines.append(
            "next: commit the files and open a pull request; the first `pulumi up` of each stack imports them, "
            "then `python -m railzway sync` encrypts their passwords in the Cloud DB"
        )
    return "\n".join(lines)
