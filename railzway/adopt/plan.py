"""Which seed instances become registry tenants, and how: the adoption rules, as pure functions.

The seed's Go control plane kept one `instances` row per organization (its own status and tier words, a
desired and a current version) and created the role and database on one server. Adoption turns each row
into a tenant file, or refuses it with every reason at once. Nothing here does I/O: the Cloud DB rows and
what each region's server holds come in as values (`railzway.clouddb.seed`, `railzway.adopt.live_server`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from railzway.clouddb.seed import SeedInstance
from railzway.registry import naming
from railzway.registry.model import Registry, Tenant, image_tag_problem
from railzway.registry.shards import assign_shards
from railzway.tenant import password_rules, spec

# The seed's statuses (compared lower-case, with '-' and ' ' read as '_') onto ours. Its transitional
# states become the settled state they lead to: `upgrading` is a version change (the registry takes the
# desired version), `downgrade_scheduled` keeps its current tier (the table does not record the target).
STATUS_MAP: Mapping[str, str] = {
    "running": "running",
    "upgrading": "running",
    "downgrade_scheduled": "running",
    "stopped": "stopped",
    "terminated": "terminated",
}
# States in which the Go control plane had not finished provisioning: nothing reliable to adopt.
UNFINISHED_STATUSES = frozenset({"created", "init", "pending", "provisioning"})

NO_TIER_KEY = "none"
"""`--tier-map` key for rows whose tier is NULL or empty."""

EXPECTED_ENCODING = spec.DATABASE_ENCODING


@dataclass(frozen=True)
class LiveTenant:
    """What one region's server holds for one org id (None: the object does not exist)."""

    role_exists: bool
    database_owner: str | None
    database_encoding: str | None
    password_matches: bool | None
    """Whether the Cloud DB password logs the role in (None: not checked, no plain-text password)."""


@dataclass(frozen=True)
class Adopted:
    """One instance to write as a tenant file."""

    tenant: Tenant
    seed_status: str
    seed_tier: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refused:
    """One instance that cannot be adopted, with every reason."""

    org_id: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class AdoptionPlan:
    adopted: list[Adopted] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    """Org ids already in the registry: left alone (adopting twice changes nothing)."""


def map_status(seed_status: str | None) -> tuple[str | None, str | None]:
    """(our status, None) or (None, why it cannot be adopted)."""
    key = (seed_status or "").strip().lower().replace("-", "_").replace(" ", "_")
    if key in STATUS_MAP:
        return STATUS_MAP[key], None
    if key in UNFINISHED_STATUSES:
        return None, f"status {seed_status!r}: the Go control plane never finished provisioning it"
    known = ", ".join(sorted(STATUS_MAP))
    return None, f"status {seed_status!r} is not one this program maps (known: {known})"


def map_tier(seed_tier: str | None, registry: Registry, tier_map: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(our tier, None) or (None, why): `tier_map` first (keys lower-case), then the same name lower-cased."""
    key = (seed_tier or "").strip().lower() or NO_TIER_KEY
    tier = tier_map.get(key, key)
    if tier in registry.tiers.tiers:
        return tier, None
    known = ", ".join(sorted(registry.tiers.tiers))
    hint = f"--tier-map {key}=<tier>"
    return None, f"tier {seed_tier!r} is not in tiers.yaml (known: {known}); map it with {hint}"


def map_version(instance: SeedInstance) -> tuple[str | None, str | None]:
    """The desired version (the registry is the desired state), else the current one."""
    version = (instance.desired_version or "").strip() or (instance.current_version or "").strip()
    if not version:
        return None, "no desired or current version"
    problem = image_tag_problem(version)
    return (None, f"version {problem}") if problem else (version, None)


def instance_problems(instance: SeedInstance, live: LiveTenant | None, region: str | None) -> list[str]:
    """Why the seed's objects for this instance cannot be imported as they are (empty when they can)."""
    org_id = instance.org_id
    role, database = naming.role_name(org_id), naming.database_name(org_id)
    problems: list[str] = []
    if instance.db_user not in (None, role):
        problems.append(f"the Cloud DB names its role {instance.db_user!r}, not {role}")
    if instance.db_name not in (None, database):
        problems.append(f"the Cloud DB names its database {instance.db_name!r}, not {database}")
    if instance.password_encrypted:
        problems.append(
            "its Cloud DB password is already encrypted, so a stack held it before: restore its registry file "
            "from git history instead of adopting it"
        )
    elif instance.password is None:
        problems.append("the Cloud DB holds no password for it: its container's password is unknown")
    if live is None:
        where = f"the {region} server" if region else "any given server"
        problems.append(f"role {role} and database {database} are missing on {where}")
        return problems
    if not live.role_exists:
        problems.append(f"role {role} is missing")
    if live.database_owner is None:
        problems.append(f"database {database} is missing")
    elif live.database_owner != role:
        problems.append(f"database {database} is owned by {live.database_owner}, not by {role}")
    if live.database_encoding not in (None, EXPECTED_ENCODING):
        problems.append(
            f"database {database} is {live.database_encoding}, not {EXPECTED_ENCODING}: our declaration would "
            "replace it (an encoding cannot change in place)"
        )
    if live.role_exists and live.password_matches is False:
        problems.append(
            f"the Cloud DB password does not log {role} in (the Go control plane's 'credentials save failed' "
            "case): reconcile the role's and the container's password by hand first"
        )
    return problems


def plan_adoption(
    registry: Registry,
    instances: Sequence[SeedInstance],
    live: Mapping[int, Mapping[str, LiveTenant]],
    tier_map: Mapping[str, str],
) -> AdoptionPlan:
    """Decide every instance: already in the registry, adopted (with a least-loaded shard), or refused.

    `live[org_id]` maps each region whose server holds any of the org's objects to what it holds there.
    """
    plan = AdoptionPlan()
    candidates: list[tuple[Tenant, SeedInstance, tuple[str, ...]]] = []
    for instance in instances:
        org_id = instance.org_id
        if org_id in registry.tenants:
            plan.already.append(org_id)
            continue
        reasons: list[str] = []
        regions = dict(live.get(org_id, {}))
        region: str | None = None
        if len(regions) > 1:
            reasons.append(f"its objects are on several servers ({', '.join(sorted(regions))})")
        elif regions:
            region = next(iter(regions))
        status, why = map_status(instance.status)
        reasons += [why] if why else []
        tier, why = map_tier(instance.tier, registry, tier_map)
        reasons += [why] if why else []
        version, why = map_version(instance)
        reasons += [why] if why else []
        if len(regions) <= 1:
            reasons += instance_problems(instance, regions.get(region) if region else None, region)
        tenant: Tenant | None = None
        if not reasons:
            try:
                tenant = Tenant.model_validate(
                    {
                        "org_id": org_id,
                        "tier": tier,
                        "version": version,
                        "status": status,
                        "region": region,
                        "subscription_id": instance.subscription_id or None,
                        "password_rotation": password_rules.ADOPTED_PASSWORD_ROTATION,
                    },
                    context=registry.context(),
                )
            except ValidationError as e:
                reasons += [f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()]
        if reasons or tenant is None:
            plan.refused.append(Refused(org_id, tuple(reasons)))
            continue
        candidates.append((tenant, instance, _notes(instance, tenant)))
    placed = {t.org_id: t for t in assign_shards(registry, [tenant for tenant, _, _ in candidates])}
    for tenant, instance, notes in candidates:
        plan.adopted.append(
            Adopted(placed[tenant.org_id], seed_status=str(instance.status), seed_tier=str(instance.tier), notes=notes)
        )
    return plan


def _notes(instance: SeedInstance, tenant: Tenant) -> tuple[str, ...]:
    notes = []
    key = (instance.status or "").strip().lower().replace("-", "_").replace(" ", "_")
    if key == "upgrading" or (instance.current_version and instance.current_version != tenant.version):
        notes.append(
            f"runs {instance.current_version}, desired {tenant.version}: the first up rolls its job to {tenant.version}"
        )
    if key == "downgrade_scheduled":
        notes.append(
            "a downgrade was scheduled, but the Cloud DB does not record its tier or date: add a `downgrade:` "
            "block by hand"
        )
    return tuple(notes)
