"""The `tenants` stack output, validated strictly before anything touches the Cloud DB.

Input is what `pulumi stack output --json --show-secrets` prints (or the same values from the Automation
API): `{"tenants": {"<org_id>": {...}}}`. Every problem is collected and named by org and field; values
are never echoed, since most of them sit next to a password.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from railzway.registry import naming
from railzway.registry.model import Status, image_tag_problem
from railzway.tenant import spec

TENANTS_OUTPUT = "tenants"
_ORG_KEY_RE = re.compile(r"[1-9][0-9]{0,18}")
_KEY_PROBLEM = "the key must be the org id, a positive integer"
# Checked in pydantic's core (Rust regex: `$` is the end of the text, never before a trailing newline).
# Names and versions are exact-compared or pattern-checked after; these keep control characters out of
# the free-form fields, which end up in Cloud DB rows and the service's answers.
_VISIBLE_ASCII = r"^[\x21-\x7e]+$"
_NAME = r"^[a-z][a-z0-9-]*[a-z0-9]$"
# What `pulumi stack output --json` prints for a secret without --show-secrets.
_SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - a placeholder, not a password


class OutputsError(ValueError):
    """The outputs cannot be synced; `problems` lists each one as `org <id>: <field>: <what is wrong>`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class TenantOutput(BaseModel):
    """One tenant's outputs as `TenantInstance` exports them: the contract `spec.OUTPUTS`, field for field
    (checked below, when the module loads), with what each value may hold.

    Field checks run in pydantic's core (a fleet of 10,000 validates in tens of milliseconds); the
    checks that need Python (`_semantic_problems`) run once per tenant afterwards. The two secrets are
    plain strings kept out of the repr, so a logged model never shows them.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    org_id: int = Field(gt=0, le=naming.MAX_ORG_ID)
    db_host: str = Field(min_length=1, max_length=255, pattern=_VISIBLE_ASCII)
    db_port: int = Field(ge=1, le=65535)
    db_name: str
    db_user: str
    db_password: str = Field(min_length=1, repr=False, pattern=_VISIBLE_ASCII)
    database_url: str = Field(min_length=1, repr=False, pattern=_VISIBLE_ASCII)
    # Null for a tenant without a Nomad job. May be absent altogether: the engine can drop null-valued
    # keys of a nested output map, and a missing key means the same thing.
    nomad_job_id: str | None = None
    status: Status
    tier: str = Field(min_length=1, max_length=50, pattern=_NAME)
    version: str = Field(min_length=1, max_length=50)
    region: str = Field(min_length=1, max_length=64, pattern=_NAME)


# The fields are the contract's keys in its order, and exactly its secrets are kept out of the repr.
_SECRET_FIELDS = tuple(key for key in spec.OUTPUT_KEYS if key in spec.SECRET_OUTPUT_KEYS)
if tuple(TenantOutput.model_fields) != spec.OUTPUT_KEYS or {
    key for key, field in TenantOutput.model_fields.items() if not field.repr
} != set(_SECRET_FIELDS):
    raise RuntimeError("railzway.clouddb.outputs.TenantOutput does not follow railzway.tenant.spec.OUTPUTS")


def _semantic_problems(key: str, tenant: TenantOutput, pinned: dict[str, bool]) -> list[str]:
    """What pydantic's core cannot say: the key, placeholders, pinned versions, names that follow the org id."""
    org = str(tenant.org_id)
    version = tenant.version
    if version not in pinned:  # a fleet runs a handful of versions: check each once
        pinned[version] = image_tag_problem(version) is None
    if (
        key == org
        and tenant.db_name == naming.DATABASE_PREFIX + org
        and tenant.db_user == naming.ROLE_PREFIX + org
        and (tenant.nomad_job_id is None or tenant.nomad_job_id == naming.JOB_PREFIX + org)
        and all(getattr(tenant, name) != _SECRET_PLACEHOLDER for name in _SECRET_FIELDS)
        and pinned[version]
    ):
        return []  # the common case, decided without building a message
    problems = []
    if key != org:
        problems.append("org_id: does not match its key" if _ORG_KEY_RE.fullmatch(key) else _KEY_PROBLEM)
    problems.extend(
        f"{name}: is the placeholder '[secret]': export the outputs with --show-secrets"
        for name in _SECRET_FIELDS
        if getattr(tenant, name) == _SECRET_PLACEHOLDER
    )
    if not pinned[version]:
        problems.append("version: is not a pinned image tag")
    if tenant.db_name != naming.DATABASE_PREFIX + org:
        problems.append(f"db_name: must be {naming.database_name(tenant.org_id)!r}")
    if tenant.db_user != naming.ROLE_PREFIX + org:
        problems.append(f"db_user: must be {naming.role_name(tenant.org_id)!r}")
    if tenant.nomad_job_id is not None and tenant.nomad_job_id != naming.JOB_PREFIX + org:
        problems.append(f"nomad_job_id: must be {naming.job_id(tenant.org_id)!r} or null")
    return problems


class _Outputs(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    tenants: dict[str, TenantOutput]


def parse_json(text: str, source: str) -> Any:
    """JSON from a file or stdin; an error names the source and position only."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise OutputsError([f"{source}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"]) from None


def parse_outputs(outputs: object) -> list[TenantOutput]:
    """The tenants of a stack's outputs, in org id order; raises OutputsError listing every problem."""
    if not isinstance(outputs, Mapping):
        raise OutputsError([f"outputs: must be a JSON object with a `{TENANTS_OUTPUT}` key"])
    if TENANTS_OUTPUT not in outputs:
        raise OutputsError([f"outputs: no `{TENANTS_OUTPUT}` output (is this a railzway stack, and was it deployed?)"])
    tenants = outputs[TENANTS_OUTPUT]
    problems: list[tuple[str, str]] = []
    try:
        parsed = _Outputs.model_validate({TENANTS_OUTPUT: tenants})
    except ValidationError as e:
        problems.extend(_describe(error) for error in e.errors(include_url=False, include_input=False))
        if isinstance(tenants, Mapping):
            problems.extend((str(key), _KEY_PROBLEM) for key in tenants if not _ORG_KEY_RE.fullmatch(str(key)))
        parsed = None
    if parsed is not None:
        pinned: dict[str, bool] = {}
        for key, tenant in parsed.tenants.items():
            problems.extend((key, problem) for problem in _semantic_problems(key, tenant, pinned))
    if problems:
        raise OutputsError(
            [f"org {org}: {what}" if org else what for org, what in sorted(set(problems), key=_problem_order)]
        )
    assert parsed is not None
    return sorted(parsed.tenants.values(), key=lambda t: t.org_id)


def _describe(error: Any) -> tuple[str, str]:
    loc = tuple(str(part) for part in error["loc"])
    if len(loc) < 2:
        return ("", f"{TENANTS_OUTPUT}: must be an object keyed by org id")
    org, fields = loc[1], loc[2:]
    message = {
        "missing": "is missing",
        "extra_forbidden": "is not a tenant output (unknown field)",
        "model_type": "must be an object",
        "model_attributes_type": "must be an object",
        "string_too_short": "must not be empty",
        "string_pattern_mismatch": "contains characters it may not (spaces, control characters, or outside its name scheme)",
    }.get(error["type"], error["msg"])
    if not fields:
        return (org, message)
    return (org, f"{'.'.join(fields)}: {message}")


def _problem_order(problem: tuple[str, str]) -> tuple[int, str, str]:
    org, what = problem
    return (int(org) if org.isdigit() else -1, org, what)
