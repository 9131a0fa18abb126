"""A stack's configuration (`Pulumi.<stack>.yaml`, namespace `railzway:`) as a typed, validated value.

Pure: `__main__.py` reads the raw values with `pulumi.Config()` and hands them here, so every rule about
them is tested without Pulumi. Keys are camel-case, as in Pulumi.dev.yaml. Every problem names the
config key to fix (`railzway:regions.eu-west.postgres.host: ...`), because the operator meets these
messages in `pulumi preview` output, far from this code.

Admin credentials are optional here on purpose: when `postgres.password` / `nomad.token` are not set, the
providers read PGPASSWORD / NOMAD_TOKEN themselves, so the credential never enters the stack's state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from railzway.registry.location import DEFAULT_REGISTRY_DIR
from railzway.registry.model import Registry, Tenant

NAMESPACE = "railzway"
DEFAULT_IMAGE_REPOSITORY = "ghcr.io/smallbiznis/railzway"

# The same list as `tenant_env.SSLMODES` (a test keeps them equal); a Literal gives a clear error message.
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

_SHARD_RE = re.compile(r"(?P<region>[a-z][a-z0-9-]*[a-z0-9])/(?P<shard>[0-9]{1,2})")
_ADDRESS_RE = re.compile(r"https?://[^\s/]+(/[\x21-\x7e]*)?")


class StackConfigError(Exception):
    """The stack configuration is invalid; `problems` lists every problem, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Camel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class PostgresEndpoint(_Camel):
    """The region's PostgreSQL server: where the program connects as admin, and where tenants connect."""

    host: str = Field(min_length=1, description="Where the program (the provider) connects as the admin user.")
    # Not strict: `pulumi config set --path ...port 5433` may store the number as a string.
    port: int = Field(default=5432, ge=1, le=65535, strict=False)
    username: str = Field(default="postgres", min_length=1)
    sslmode: SslMode = Field(default="require", description="Used by the provider and in each tenant's URL.")
    tenant_host: str = Field(min_length=1, description="The host the tenants' containers connect to.")
    password: str | None = Field(default=None, repr=False, description="Secret; else the provider reads PGPASSWORD.")

    @model_validator(mode="before")
    @classmethod
    def _tenant_host_defaults_to_host(cls, data: Any) -> Any:
        # Containers usually reach the server at the same name the program does.
        if isinstance(data, dict) and "tenantHost" not in data and "tenant_host" not in data and "host" in data:
            return {**data, "tenantHost": data["host"]}
        return data


class NomadEndpoint(_Camel):
    """The region's Nomad cluster."""

    address: str = Field(description="http(s)://host:port of a Nomad server.")
    region: str = Field(default="global", min_length=1)
    namespace: str = Field(default="default", min_length=1)
    datacenters: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    token: str | None = Field(default=None, repr=False, description="Secret; else the provider reads NOMAD_TOKEN.")

    @field_validator("address")
    @classmethod
    def _http_address(cls, address: str) -> str:
        if not _ADDRESS_RE.fullmatch(address):
            raise ValueError(f"{address!r} must be an http:// or https:// URL")
        return address

    @field_validator("datacenters")
    @classmethod
    def _named_datacenters(cls, datacenters: list[str]) -> list[str]:
        if any(not dc for dc in datacenters):
            raise ValueError("datacenter names must not be empty")
        return datacenters


class RegionEndpoints(_Camel):
    """One region's endpoints. Without `nomad` the region's tenants get databases only."""

    postgres: PostgresEndpoint
    nomad: NomadEndpoint | None = None


class StackConfig(_Camel):
    """Everything under `railzway:` in a stack's configuration."""

    registry_dir: str = Field(default=DEFAULT_REGISTRY_DIR, min_length=1)
    image_repository: str = Field(default=DEFAULT_IMAGE_REPOSITORY, min_length=1)
    shards: list[str] = Field(default_factory=list, description='"<region>/<shard>"; empty = every tenant.')
    regions: dict[str, RegionEndpoints] = Field(default_factory=dict)

    @field_validator("shards")
    @classmethod
    def _shard_refs(cls, shards: list[str]) -> list[str]:
        for shard in shards:
            if not _SHARD_RE.fullmatch(shard):
                raise ValueError(f'{shard!r} is not "<region>/<shard number>" (for instance "eu-west/3")')
        if len(set(shards)) != len(shards):
            raise ValueError("lists a shard twice")
        return shards

    @field_validator("image_repository")
    @classmethod
    def _untagged_repository(cls, repository: str) -> str:
        if ":" in repository.rsplit("/", 1)[-1] or "@" in repository:
            raise ValueError(f"{repository!r} must be a repository without a tag: each tenant's version is its tag")
        return repository

    @property
    def shard_set(self) -> set[tuple[str, int]] | None:
        """The (region, shard) pairs this stack holds, or None for every tenant (an empty `shards`)."""
        if not self.shards:
            return None
        return {(m["region"], int(m["shard"])) for m in (_SHARD_RE.fullmatch(s) for s in self.shards) if m}


def parse_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate the raw `railzway:` values (keys without the namespace; None values mean unset)."""
    values = {key: value for key, value in raw.items() if value is not None}
    try:
        return StackConfig.model_validate(values)
    except ValidationError as e:
        raise StackConfigError([_message(error) for error in e.errors(include_url=False)]) from None


def endpoint_problems(config: StackConfig, registry: Registry) -> list[str]:
    """What stops this stack from serving its tenants: unknown shards or regions, regions with no endpoints."""
    problems: list[str] = []
    catalogue = registry.regions.regions
    known = ", ".join(sorted(catalogue))
    for index, shard in enumerate(config.shards):
        region, number = shard.split("/")
        if region not in catalogue:
            problems.append(f"{_key('shards', index)}: unknown region {region!r} (tenants/regions.yaml has: {known})")
        elif int(number) >= catalogue[region].shards:
            problems.append(
                f"{_key('shards', index)}: region {region!r} has shards 0-{catalogue[region].shards - 1}, "
                f"not {int(number)}"
            )
    for region in config.regions:
        if region not in catalogue:
            problems.append(f"{_key('regions', region)}: unknown region (tenants/regions.yaml has: {known})")
    missing: dict[str, list[int]] = {}
    for tenant in stack_tenants(config, registry):
        if tenant.region not in config.regions:
            missing.setdefault(tenant.region, []).append(tenant.org_id)
    for region, org_ids in sorted(missing.items()):
        problems.append(
            f"{_key('regions', region)} is not configured, but this stack holds its tenants "
            f"{_id_list(org_ids)}: set {_key('regions', region, 'postgres', 'host')} (and optionally "
            f"{_key('regions', region, 'nomad', 'address')})"
        )
    return problems


def stack_tenants(config: StackConfig, registry: Registry) -> list[Tenant]:
    """The tenants this stack declares, by org id."""
    return registry.in_shards(config.shard_set)


def _message(error: Mapping[str, Any]) -> str:
    loc = tuple(str(part) for part in error["loc"])
    kind, message = error["type"], error["msg"]
    if kind == "extra_forbidden":
        text = "unknown key"
    elif kind == "missing":
        text = "required key is missing"
    elif message.startswith("Value error, "):
        text = message[len("Value error, ") :]
    else:
        text = f"{message[0].lower()}{message[1:]}"
        if "input" in error and kind.endswith("_type"):
            text += f", got {type(error['input']).__name__}"
    return f"{_key(*loc)}: {text}" if loc else f"{NAMESPACE}: {text}"


def _key(*parts: str | int) -> str:
    path = ""
    for part in parts:
        # Region names start with a letter, so a number is always a list index.
        if isinstance(part, int) or part.isdigit():
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return f"{NAMESPACE}:{path}"


def _id_list(org_ids: Iterable[int]) -> str:
    ids = sorted(org_ids)
    shown = ", ".join(str(i) for i in ids[:5])
    return shown + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
