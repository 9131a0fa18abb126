"""The `tenants` stack output, validated strictly before anything touches the Cloud DB.

Input is what `pulumi stack output --json --show-secrets` prints (or the same values from the Automation
API): `{"tenants": {"<org_id>": {...}}}`. Every problem is collected and named by org and field; values
are never echoed, since most of them sit next to a password.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from railzway import naming
from railzway.model import image_tag_problem

TENANTS_OUTPUT = "tenants"
_ORG_KEY_RE = re.compile(r"^[1-9][0-9]{0,18}$")
# What `pulumi stack output --json` prints for a secret without --show-secrets.
_SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - a placeholder, not a password


class OutputsError(ValueError):
    """The outputs cannot be synced; `problems` lists each one as `org <id>: <field>: <what is wrong>`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class TenantOutput(BaseModel):
    """One tenant's outputs as `TenantInstance` exports them."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    org_id: int = Field(gt=0, le=naming.MAX_ORG_ID)
    db_host: str = Field(min_length=1, max_length=255)
    db_port: int = Field(ge=1, le=65535)
    db_name: str
    db_user: str
    db_password: SecretStr
    database_url: SecretStr
    nomad_job_id: str | None
    status: Literal["running", "stopped", "terminated"]
    tier: str = Field(min_length=1, max_length=50)
    version: str = Field(max_length=50)
    region: str = Field(min_length=1, max_length=64)

    @field_validator("db_password", "database_url")
    @classmethod
    def _real_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if not secret:
            raise ValueError("must not be empty")
        if secret == _SECRET_PLACEHOLDER:
            raise ValueError("is the placeholder '[secret]': export the outputs with --show-secrets")
        return value

    @field_validator("version")
    @classmethod
    def _pinned(cls, version: str) -> str:
        problem = image_tag_problem(version)
        if problem:
            raise ValueError("is not a pinned image tag")
        return version

    @model_validator(mode="after")
    def _names_follow_org_id(self) -> TenantOutput:
        # The outputs must describe the tenant they are filed under; a mismatch means a wrong program.
        expected = {
            "db_name": naming.database_name(self.org_id),
            "db_user": naming.role_name(self.org_id),
        }
        for name, value in expected.items():
            if getattr(self, name) != value:
                raise ValueError(f"{name}: must be {value!r} for org {self.org_id}")
        if self.nomad_job_id is not None and self.nomad_job_id != naming.job_id(self.org_id):
            raise ValueError(f"nomad_job_id: must be {naming.job_id(self.org_id)!r} or null for org {self.org_id}")
        return self


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
    if isinstance(tenants, Mapping):
        for key, value in tenants.items():
            if not isinstance(key, str) or not _ORG_KEY_RE.match(key):
                problems.append((str(key), "the key must be the org id, a positive integer"))
            elif isinstance(value, Mapping) and value.get("org_id") != int(key) and isinstance(value.get("org_id"), int):
                problems.append((key, f"org_id: does not match its key {key}"))
    try:
        parsed = _Outputs.model_validate({TENANTS_OUTPUT: tenants})
    except ValidationError as e:
        problems.extend(_describe(error) for error in e.errors(include_url=False, include_input=False))
        parsed = None
    if problems:
        raise OutputsError([f"org {org}: {what}" if org else what for org, what in sorted(set(problems), key=_problem_order)])
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
    }.get(error["type"], error["msg"].removeprefix("Value error, "))
    if not fields:
        # A model-level check names its own field ("db_user: must be ...") or concerns the whole tenant.
        return (org, message)
    return (org, f"{'.'.join(fields)}: {message}")


def _problem_order(problem: tuple[str, str]) -> tuple[int, str, str]:
    org, what = problem
    return (int(org) if org.isdigit() else -1, org, what)
