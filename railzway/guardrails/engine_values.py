"""How the engine shows a program's resources to the pack, read one way for every rule.

The type tokens the rules judge, property values as plain Python (numbers arrive as doubles, an empty
privilege set as null, a value computed during a preview as UNKNOWN), URNs and parents, and the stack
configuration the engine hands the pack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi.runtime
from pulumi_policy import (
    PolicyResource,
)
from pulumi_policy.proxy import UnknownValueError

from railzway.registry import naming
from railzway.tenant import spec

TENANT_INSTANCE_TYPE = spec.TENANT_TYPE
ROLE_TYPE = "postgresql:index/role:Role"
DATABASE_TYPE = "postgresql:index/database:Database"
GRANT_TYPE = "postgresql:index/grant:Grant"
GRANT_ROLE_TYPE = "postgresql:index/grantRole:GrantRole"
# The provider keeps a misspelt, deprecated alias of DefaultPrivileges; both grant privileges.
DEFAULT_PRIVILEGES_TYPES = (
    "postgresql:index/defaultPrivileges:DefaultPrivileges",
    "postgresql:index/defaultPrivileg:DefaultPrivileg",
)
RANDOM_PASSWORD_TYPE = "random:index/randomPassword:RandomPassword"  # noqa: S105 (a type token)
NOMAD_VARIABLE_TYPE = "nomad:index/variable:Variable"
NOMAD_JOB_TYPE = "nomad:index/job:Job"
STACK_CONFIG_NAMESPACE = "railzway"
# PostgreSQL's pseudo-role that every role belongs to.
PUBLIC_ROLE = spec.PUBLIC_ROLE
UNLIMITED_CONNECTIONS = -1


class _Unknown:
    """A value the engine cannot know during this preview."""

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN: Any = _Unknown()


def value_of(props: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """`props[key]` as plain Python values, or UNKNOWN when any part of it is not known yet."""
    try:
        return _plain(props.get(key, default))
    except UnknownValueError:
        return UNKNOWN


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return value
    # The engine's property values travel as protobuf numbers, i.e. doubles: `length` arrives as 32.0.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: _plain(value[k]) for k in value}
    if isinstance(value, Sequence):
        return [_plain(v) for v in value]
    return value


def grant_privileges(props: Mapping[str, Any]) -> Any:
    """The privileges a `postgresql.Grant` gives, as a list; UNKNOWN while they are computed.

    The engine shows the same revoke two ways: a resource policy sees the declared input `privileges: []`,
    a stack policy sees the provider's stored output `privileges: null` (../shared/engine/up/stack.json).
    Both mean the empty set, i.e. REVOKE ALL: the provider's `privileges` is a *required* set ("An empty
    list could be provided to revoke all privileges", terraform-provider-postgresql's postgresql_grant
    docs, cyrilgdn/terraform-provider-postgresql#26), so a grant can never leave it unset, and the
    Terraform plugin SDK stores an empty set as null. Reading null as "nothing granted" is therefore the
    provider's own meaning, not a guess; a non-empty set is never null.
    """
    value = value_of(props, "privileges")
    if value is None:
        return []
    return value


def _urn_type(urn: str | None) -> str | None:
    """The type token of a URN (`urn:pulumi:<stack>::<project>::<parent types$type>::<name>`)."""
    parts = (urn or "").split("::", 3)
    return parts[2].rsplit("$", 1)[-1] if len(parts) == 4 else None


def urn_name(urn: str | None) -> str | None:
    parts = (urn or "").split("::", 3)
    return parts[3] if len(parts) == 4 else None


def parent_org_id(parent_urn: str | None) -> int | None:
    """The org id of the `TenantInstance` a resource is a child of, or None."""
    if _urn_type(parent_urn) != TENANT_INSTANCE_TYPE:
        return None
    return naming.org_id_of_resource(urn_name(parent_urn) or "")


def is_child_of_tenant(parent_urn: str | None) -> bool:
    return _urn_type(parent_urn) == TENANT_INSTANCE_TYPE


def resource_label(kind: str, logical_name: str, object_name: Any = None) -> str:
    if isinstance(object_name, str) and object_name and object_name != logical_name:
        return f"{kind} {logical_name!r} ({object_name})"
    return f"{kind} {logical_name!r}"


def job_id_of(props: Mapping[str, Any]) -> Any:
    """The `ID` a Nomad job resource's JSON jobspec declares; UNKNOWN while it is computed; else None."""
    spec = value_of(props, "jobspec")
    if spec is UNKNOWN:
        return UNKNOWN
    try:
        document = json.loads(spec) if isinstance(spec, str) else None
    except ValueError:
        return None
    job = document.get("Job", document) if isinstance(document, dict) else None
    value = job.get("ID") if isinstance(job, dict) else None
    return value if isinstance(value, str) else None


def provider_urn(r: PolicyResource) -> str | None:
    return r.provider.urn if r.provider is not None else None


def parent_urn(r: PolicyResource) -> str | None:
    if r.parent is not None:
        return r.parent.urn
    return r.opts.parent if r.opts is not None else None


def stack_regions() -> Mapping[str, Any] | None:
    """The stack's `railzway:regions` configuration, which the engine hands policy packs too; None if absent."""
    try:
        raw = pulumi.runtime.get_config(f"{STACK_CONFIG_NAMESPACE}:regions")
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    return value if isinstance(value, Mapping) else None


def stack_shards() -> list[str]:
    """The stack's `railzway:shards` ([] when it holds every tenant, or when the engine did not say)."""
    try:
        raw = pulumi.runtime.get_config(f"{STACK_CONFIG_NAMESPACE}:shards")
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return []
    return [str(shard) for shard in value] if isinstance(value, list) else []
