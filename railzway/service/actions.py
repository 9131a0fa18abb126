"""What each API action does to a tenant's desired state, as pure functions of registry values.

The HTTP layer parses a request into a body model, `plan` turns (current tenant, body) into the new
tenant validated by the shared registry model, and the intake writes it. Nothing here touches a file or
a database, so every rule (which field is wrong, which change is refused) is tested without either.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from railzway.registry import naming
from railzway.registry.model import Registry, Tenant, downgrade_problem


class Action(enum.StrEnum):
    deploy = "deploy"
    stop = "stop"
    start = "start"
    terminate = "terminate"
    rotate_password = "rotate-password"  # noqa: S105 - an action name
    downgrade = "downgrade"
    scheduled_downgrade = "scheduled-downgrade"
    """Not an endpoint: the periodic task applying a downgrade whose date has come."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeployBody(_Body):
    """Create the tenant, or change its version and tier."""

    version: StrictStr = Field(description="The Railzway image tag to run, e.g. 1.9.0 (not `latest`).")
    tier: StrictStr = Field(description="A tier of the registry's tiers.yaml.")
    region: StrictStr | None = Field(
        default=None,
        description="Where a new tenant lives; may be left out when the registry has one region or a default.",
    )


class DowngradeBody(_Body):
    """Schedule a lower tier from a date (the end of the paid period); today applies it at once."""

    tier: StrictStr = Field(description="The tier that applies from `at`.")
    at: dt.date = Field(description="The first day of the new tier (YYYY-MM-DD, UTC).")


class EmptyBody(_Body):
    """stop, start, terminate and rotate-password take no fields."""


class Rejected(Exception):
    """A request that must not change anything: HTTP `status`, the `field` at fault and why.

    `problems` lists every (field, message) found, so one answer names every bad field; `field` and
    `message` are the first of them.
    """

    def __init__(self, status: int, field: str, message: str, *more: tuple[str, str]) -> None:
        self.problems = [(field, message), *more]
        super().__init__("; ".join(f"{f}: {m}" for f, m in self.problems))
        self.status, self.field, self.message = status, field, message

    @classmethod
    def every(cls, status: int, problems: list[tuple[str, str]]) -> Rejected:
        first, *more = problems
        return cls(status, *first, *more)


@dataclass(frozen=True)
class Change:
    """The tenant after the action, and what changed, for the request's summary."""

    tenant: Tenant
    created: bool
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"created": self.created, "changes": self.changes}


def parse_org_id(text: str) -> int:
    """The org id of a URL path segment: a positive integer as PostgreSQL's bigint holds it."""
    if not text.isascii() or not text.isdigit() or text.startswith("0") or len(text) > 19:
        raise Rejected(400, "org_id", f"must be a positive integer (1 to {naming.MAX_ORG_ID})")
    value = int(text)
    if value > naming.MAX_ORG_ID:
        raise Rejected(400, "org_id", f"must be a positive integer (1 to {naming.MAX_ORG_ID})")
    return value


def fingerprint(org_id: int, action: Action, body: BaseModel) -> str:
    """A digest of what was asked, to tell a retried call from a different one reusing an Idempotency-Key."""
    canonical = json.dumps(
        {"org_id": org_id, "action": str(action), "body": body.model_dump(mode="json")}, sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def plan(
    action: Action,
    org_id: int,
    current: Tenant | None,
    body: BaseModel,
    registry: Registry,
    *,
    today: dt.date,
    request_id: str,
    new_shard: Callable[[str], int],
) -> Change:
    """The tenant `action` produces from `current` (None: no such tenant), or `Rejected`.

    `registry` supplies the catalogues (its tenants are not read); `new_shard(region)` places a new
    tenant and is only called for one.
    """
    if current is not None and current.status == "terminated" and action is not Action.terminate:
        # Its data is kept, but it is gone as a customer: coming back is a new organization.
        raise Rejected(
            409,
            "org_id",
            f"organization {org_id} is terminated; a terminated organization is not changed again",
        )
    if action is Action.deploy:
        assert isinstance(body, DeployBody)
        return _deploy(org_id, current, body, registry, new_shard)
    if current is None:
        raise Rejected(404, "org_id", f"no organization {org_id} in the registry")
    data: dict[str, Any]
    if action is Action.stop:
        data = {"status": "stopped"}
    elif action is Action.start:
        data = {"status": "running"}
    elif action is Action.terminate:
        data = {"status": "terminated", "downgrade": None}
    elif action is Action.rotate_password:
        # Any new value rotates; the request id is unique and says which request did it.
        data = {"password_rotation": request_id}
    elif action is Action.downgrade:
        assert isinstance(body, DowngradeBody)
        data = _downgrade(current, body, registry, today)
    elif action is Action.scheduled_downgrade:
        if current.downgrade is None or current.downgrade.at > today:
            raise Rejected(409, "downgrade", f"organization {org_id} has no downgrade due")
        data = {"tier": current.downgrade.tier, "downgrade": None}
    else:  # pragma: no cover - every Action is handled above
        raise AssertionError(action)
    return _changed(current, data, registry, created=False)


def _deploy(
    org_id: int, current: Tenant | None, body: DeployBody, registry: Registry, new_shard: Callable[[str], int]
) -> Change:
    problems: list[tuple[str, str]] = []
    if current is not None:
        if body.region is not None and body.region != current.region:
            problems.append(
                (
                    "region",
                    f"organization {org_id} lives in {current.region!r}; moving it to another region is not supported",
                )
            )
        try:
            # The control plane states the tier now: a downgrade scheduled earlier no longer applies.
            change = _changed(
                current, {"version": body.version, "tier": body.tier, "downgrade": None}, registry, created=False
            )
        except Rejected as e:
            problems.extend(e.problems)
        if problems:
            raise Rejected.every(422, problems)
        return change
    region: str | None
    try:
        region = body.region or _default_region(registry)
    except Rejected as e:
        problems.extend(e.problems)
        region = None
    data: dict[str, Any] = {"org_id": org_id, "tier": body.tier, "version": body.version, "region": region}
    try:
        tenant = _validated(data, registry)  # every field error first, before a shard is chosen
    except Rejected as e:
        # Without a region the model also says `region` is missing; the problem above says why.
        problems.extend(p for p in e.problems if region is not None or p[0] != "region")
    if problems:
        raise Rejected.every(422, problems)
    assert region is not None
    placed = _validated({**data, "shard": new_shard(region)}, registry)
    changes = {name: {"from": None, "to": value} for name, value in _visible(tenant).items()}
    changes["shard"] = {"from": None, "to": placed.shard}
    return Change(placed, created=True, changes=changes)


def _default_region(registry: Registry) -> str:
    if registry.regions.default is not None:
        return registry.regions.default
    if len(registry.regions.regions) == 1:
        return next(iter(registry.regions.regions))
    known = ", ".join(sorted(registry.regions.regions))
    raise Rejected(422, "region", f"required: the registry has several regions ({known}) and no default")


def _downgrade(current: Tenant, body: DowngradeBody, registry: Registry, today: dt.date) -> dict[str, Any]:
    problems: list[tuple[str, str]] = []
    if body.tier not in registry.tiers.tiers:
        known = ", ".join(sorted(registry.tiers.tiers))
        problems.append(("tier", f"unknown tier {body.tier!r} (known: {known})"))
    elif body.tier == current.tier:
        problems.append(("tier", f"organization {current.org_id} is already on tier {body.tier!r}"))
    else:
        higher = downgrade_problem(registry.tiers.tiers[current.tier], registry.tiers.tiers[body.tier])
        if higher:
            # Checked here too: dated today, the change applies at once and no downgrade block is validated.
            problems.append(("tier", f"tier {body.tier!r} is not lower than tier {current.tier!r}: {higher}"))
    if body.at < today:
        problems.append(("at", f"{body.at.isoformat()} is in the past (today is {today.isoformat()}, UTC)"))
    if problems:
        raise Rejected.every(422, problems)
    if body.at == today:
        return {"tier": body.tier, "downgrade": None}
    return {"downgrade": {"tier": body.tier, "at": body.at}}


def _changed(current: Tenant, updates: dict[str, Any], registry: Registry, *, created: bool) -> Change:
    before = current.model_dump(mode="json")
    tenant = _validated({**current.model_dump(), **updates}, registry)
    after = tenant.model_dump(mode="json")
    changes = {k: {"from": before[k], "to": after[k]} for k in after if before.get(k) != after[k]}
    return Change(tenant, created=created, changes=changes)


def _visible(tenant: Tenant) -> dict[str, Any]:
    return {k: v for k, v in tenant.model_dump(mode="json").items() if v is not None and k != "org_id"}


# A rejection by the registry model names the tenant's field; callers know the request's field names.
_BODY_FIELD = {"downgrade.tier": "tier", "downgrade.at": "at", "downgrade": "tier"}


def _validated(data: dict[str, Any], registry: Registry) -> Tenant:
    try:
        return Tenant.model_validate(data, context=registry.context())
    except ValidationError as e:
        problems: list[tuple[str, str]] = []
        for error in e.errors(include_url=False):
            location = ".".join(str(part) for part in error["loc"]) or "body"
            problem = (_BODY_FIELD.get(location, location), str(error["msg"]).removeprefix("Value error, "))
            if problem not in problems:
                problems.append(problem)
        raise Rejected.every(422, problems) from None
