"""The tenants registry: what the fleet should look like, as typed, validated values.

One model shared by the Pulumi program, the CLI, the policy pack and the service. Parsing YAML is the
loader's job (`railzway.registry.loader`); this module only says which values are acceptable, so a tenant built by
the service from an HTTP request is held to exactly the rules a tenant file in a pull request is.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from railzway.registry import naming

Status = Literal["running", "stopped", "terminated"]
STATUSES: tuple[str, ...] = get_args(Status)

# Docker's tag grammar. `latest` is refused: a tenant must run a version we can name and roll back to.
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]")
_SUBSCRIPTION_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")
UNPINNED_TAGS = frozenset({"latest"})


def image_tag_problem(tag: object) -> str | None:
    """Why `tag` cannot be a tenant's Railzway version, or None when it can."""
    if not isinstance(tag, str):
        return 'must be a string (quote it: version: "1.4.0")'
    if not _TAG_RE.fullmatch(tag):
        return f"{tag!r} is not a valid image tag (letters, digits, '_', '.', '-'; at most 128)"
    if tag.lower() in UNPINNED_TAGS:
        return f"{tag!r} is not pinned: name the exact version to run"
    return None


def _printable(value: str | None) -> str | None:
    # A line break or other control character in a free-form field would reach job specs, logs and
    # Cloud DB rows; `isprintable` is false for every control, format and separator character but ' '.
    if value is not None and not value.isprintable():
        raise ValueError(f"{value!r} contains a control or other non-printing character")
    return value


def _opaque_string(value: Any) -> Any:
    # `password_rotation: 2` is a natural thing to write; it means the string "2".
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Tier(_Strict):
    """What one pricing tier buys: the container's resources and the database's limits."""

    cpu: int = Field(ge=50, le=64000, description="Nomad CPU shares for the container, in MHz.")
    memory_mb: int = Field(ge=64, le=262144, description="Nomad memory for the container, in MB.")
    connection_limit: int = Field(ge=1, le=10000, description="CONNECTION LIMIT of the role and of the database.")
    storage_quota_mb: int = Field(ge=1, description="Database size above which `railzway report` flags the tenant.")


class TierCatalogue(_Strict):
    """`tenants/tiers.yaml`."""

    tiers: dict[str, Tier] = Field(min_length=1)

    @field_validator("tiers")
    @classmethod
    def _tier_names(cls, tiers: dict[str, Tier]) -> dict[str, Tier]:
        for name in tiers:
            if not _NAME_RE.fullmatch(name):
                raise ValueError(f"tier name {name!r} must be lower-case letters, digits and '-'")
        return tiers


class Region(_Strict):
    """A region tenants may live in. Its endpoints are stack configuration; its shards are fixed here."""

    shards: int = Field(ge=1, le=99, description="How many shard stacks the region is split into.")
    description: Annotated[str | None, AfterValidator(_printable)] = None


class RegionCatalogue(_Strict):
    """`tenants/regions.yaml`: the one place that says which regions and shards exist."""

    regions: dict[str, Region] = Field(min_length=1)
    default: str | None = Field(default=None, description="The region a new tenant gets when none is named.")
    max_tenants_per_shard: int = Field(default=100, ge=1, description="`validate` reports shards above this.")

    # Field validators, not a model validator: those run only once every field is valid, and an unknown
    # field elsewhere in the file would hide a misspelled default.
    @field_validator("regions")
    @classmethod
    def _region_names(cls, regions: dict[str, Region]) -> dict[str, Region]:
        for name in regions:
            if not _NAME_RE.fullmatch(name):
                raise ValueError(f"region name {name!r} must be lower-case letters, digits and '-'")
        return regions

    @field_validator("default")
    @classmethod
    def _default_exists(cls, default: str | None, info: ValidationInfo) -> str | None:
        regions = info.data.get("regions")
        if default is not None and regions is not None and default not in regions:
            raise ValueError(f"default region {default!r} is not one of the regions ({', '.join(sorted(regions))})")
        return default


class ScheduledDowngrade(_Strict):
    """A tier change that takes effect at the end of the paid period (the seed's DowngradeScheduled)."""

    tier: str
    at: dt.date = Field(strict=False, description="The date from which the lower tier applies.")

    @field_validator("tier")
    @classmethod
    def _known_tier(cls, tier: str, info: ValidationInfo) -> str:
        # Checked here rather than by the tenant, so a bad `at` does not hide an unknown tier.
        return _known(tier, "tier", _catalogue(info, "tiers"))


def downgrade_problem(current: Tier, target: Tier) -> str | None:
    """What `target` gives more of than `current` (a downgrade takes nothing up), or None."""
    more = [
        f"{name} {getattr(target, name)} > {getattr(current, name)}"
        for name in Tier.model_fields
        if getattr(target, name) > getattr(current, name)
    ]
    return ", ".join(more) or None


class Tenant(_Strict):
    """One organization's desired state: `tenants/orgs/<org_id>.yaml`.

    Validating a tenant needs the catalogues (to know the tiers and regions): pass them as
    `context={"tiers": TierCatalogue, "regions": RegionCatalogue}`; the loader and the service do.
    """

    org_id: int = Field(gt=0, le=naming.MAX_ORG_ID)
    tier: str
    version: str
    status: Status = "running"
    region: str
    shard: int = Field(default=0, ge=0, description="The shard stack of its region that holds the tenant.")
    subscription_id: str | None = None
    password_rotation: Annotated[str, BeforeValidator(_opaque_string), AfterValidator(_printable)] = Field(
        default="initial",
        min_length=1,
        max_length=128,
        description="Opaque: changing it, and nothing else, gives the tenant a new database password.",
    )
    downgrade: ScheduledDowngrade | None = None

    @field_validator("version")
    @classmethod
    def _pinned_version(cls, version: str) -> str:
        problem = image_tag_problem(version)
        if problem:
            raise ValueError(problem)
        return version

    @field_validator("subscription_id")
    @classmethod
    def _subscription(cls, value: str | None) -> str | None:
        if value is not None and not _SUBSCRIPTION_RE.fullmatch(value):
            raise ValueError("must be 1-255 letters, digits, '_' or '-'")
        return value

    @field_validator("tier")
    @classmethod
    def _known_tier(cls, tier: str, info: ValidationInfo) -> str:
        return _known(tier, "tier", _catalogue(info, "tiers"))

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str, info: ValidationInfo) -> str:
        return _known(region, "region", _catalogue(info, "regions"))

    @field_validator("downgrade")
    @classmethod
    def _downgrade_is_lower(
        cls, downgrade: ScheduledDowngrade | None, info: ValidationInfo
    ) -> ScheduledDowngrade | None:
        tiers = (info.context or {}).get("tiers")
        current = info.data.get("tier")
        if downgrade is None or not isinstance(tiers, TierCatalogue) or current not in tiers.tiers:
            return downgrade
        if downgrade.tier == current:
            raise ValueError(f"tier {current!r} is already the tenant's tier: a downgrade names a lower one")
        higher = downgrade_problem(tiers.tiers[current], tiers.tiers[downgrade.tier])
        if higher:
            raise ValueError(f"tier {downgrade.tier!r} is not lower than the tenant's tier {current!r}: {higher}")
        return downgrade

    @field_validator("shard")
    @classmethod
    def _shard_in_region(cls, shard: int, info: ValidationInfo) -> int:
        regions = _catalogue(info, "regions")
        region = info.data.get("region")
        if isinstance(regions, dict) and region in regions and shard >= regions[region]:
            raise ValueError(f"region {region!r} has shards 0-{regions[region] - 1}; shard {shard} does not exist")
        return shard


def _catalogue(info: ValidationInfo, key: str) -> dict[str, int] | set[str] | None:
    context = info.context or {}
    catalogue = context.get(key)
    if catalogue is None:
        return None
    if isinstance(catalogue, TierCatalogue):
        return set(catalogue.tiers)
    if isinstance(catalogue, RegionCatalogue):
        return {name: region.shards for name, region in catalogue.regions.items()}
    raise TypeError(f"context[{key!r}] must be a catalogue")


def _known(value: str, what: str, known: dict[str, int] | set[str] | None) -> str:
    if known is not None and value not in known:
        raise ValueError(f"unknown {what} {value!r} (known: {', '.join(sorted(known))})")
    return value


class Registry(BaseModel):
    """The whole registry, validated: catalogues plus every tenant, keyed by org id."""

    model_config = ConfigDict(frozen=True)

    tiers: TierCatalogue
    regions: RegionCatalogue
    tenants: dict[int, Tenant]

    def context(self) -> dict[str, object]:
        """The validation context a new tenant needs (see `Tenant`)."""
        return {"tiers": self.tiers, "regions": self.regions}

    def tier_of(self, tenant: Tenant) -> Tier:
        return self.tiers.tiers[tenant.tier]

    def in_shards(self, shards: set[tuple[str, int]] | None) -> list[Tenant]:
        """The tenants held by a stack of these (region, shard) pairs; every tenant when None."""
        chosen = [t for t in self.tenants.values() if shards is None or (t.region, t.shard) in shards]
        return sorted(chosen, key=lambda t: t.org_id)

    def shard_sizes(self) -> dict[tuple[str, int], int]:
        """Tenants per (region, shard), including empty shards."""
        sizes = {(name, n): 0 for name, region in self.regions.regions.items() for n in range(region.shards)}
        for tenant in self.tenants.values():
            sizes[(tenant.region, tenant.shard)] = sizes.get((tenant.region, tenant.shard), 0) + 1
        return sizes
