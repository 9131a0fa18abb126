"""Every name the fleet derives from an org id, in one place.

The Go control plane used these exact names; existing databases and jobs carry them, so they must never
change. The component, the policy pack, the audit and the Cloud DB sync all call these functions rather
than formatting names themselves.
"""

from __future__ import annotations

import re

ROLE_PREFIX = "railzway_user_"
DATABASE_PREFIX = "railzway_org_"
JOB_PREFIX = "railzway-org-"

# PostgreSQL identifiers are at most 63 bytes; the longest name here is 14 + 19 digits.
MAX_ORG_ID = 2**63 - 1

_ROLE_RE = re.compile(r"railzway_user_([1-9][0-9]{0,18})")
_DATABASE_RE = re.compile(r"railzway_org_([1-9][0-9]{0,18})")
_JOB_RE = re.compile(r"railzway-org-([1-9][0-9]{0,18})")
_VARIABLE_RE = re.compile(r"nomad/jobs/railzway-org-([1-9][0-9]{0,18})")
_RESOURCE_RE = re.compile(r"org-([1-9][0-9]{0,18})")
_STACK_RE = re.compile(r"(?P<env>[a-z][a-z0-9]*)-(?P<region>[a-z][a-z0-9-]*[a-z0-9])-(?P<shard>[0-9]{2,})")


def role_name(org_id: int) -> str:
    """The tenant's PostgreSQL login role."""
    return f"{ROLE_PREFIX}{_checked(org_id)}"


def database_name(org_id: int) -> str:
    """The tenant's PostgreSQL database."""
    return f"{DATABASE_PREFIX}{_checked(org_id)}"


def job_id(org_id: int) -> str:
    """The tenant's Nomad job id."""
    return f"{JOB_PREFIX}{_checked(org_id)}"


def variable_path(org_id: int) -> str:
    """The Nomad variable holding the tenant's database settings.

    `nomad/jobs/<job id>` is readable by that job's tasks without any ACL policy (Nomad's workload
    identity grants it by default), and by no other job.
    """
    return f"nomad/jobs/{job_id(org_id)}"


def resource_name(org_id: int) -> str:
    """The Pulumi logical name of a tenant's `TenantInstance` (its children append `-<role>`)."""
    return f"org-{_checked(org_id)}"


def org_id_of_role(name: str) -> int | None:
    """The org id a role name belongs to, or None when it is not a tenant role."""
    return _match(_ROLE_RE, name)


def org_id_of_database(name: str) -> int | None:
    """The org id a database name belongs to, or None when it is not a tenant database."""
    return _match(_DATABASE_RE, name)


def org_id_of_job(name: str) -> int | None:
    """The org id a Nomad job id belongs to, or None when it is not a tenant job."""
    return _match(_JOB_RE, name)


def org_id_of_variable(path: str) -> int | None:
    """The org id a Nomad variable path belongs to, or None when it is not a tenant's variable."""
    return _match(_VARIABLE_RE, path)


def org_id_of_resource(name: str) -> int | None:
    """The org id of a `TenantInstance`'s logical name (`resource_name`), or None for any other name."""
    return _match(_RESOURCE_RE, name)


def stack_name(environment: str, region: str, shard: int) -> str:
    """The name of the stack that holds one shard, for instance `prod-eu-west-03`."""
    return f"{environment}-{region}-{shard:02d}"


def parse_stack_name(name: str) -> tuple[str, str, int] | None:
    """(environment, region, shard) of a shard stack's name, or None for any other stack (e.g. `dev`)."""
    m = _STACK_RE.fullmatch(name)
    if m is None:
        return None
    return m["env"], m["region"], int(m["shard"])


# The program's providers, one per region and service: the policy pack tells a region's server by its name.
POSTGRES_PROVIDER_PREFIX = "postgresql-"
NOMAD_PROVIDER_PREFIX = "nomad-"


def postgres_provider_name(region: str) -> str:
    return POSTGRES_PROVIDER_PREFIX + region


def nomad_provider_name(region: str) -> str:
    return NOMAD_PROVIDER_PREFIX + region


def _checked(org_id: int) -> int:
    if isinstance(org_id, bool) or not isinstance(org_id, int) or not 0 < org_id <= MAX_ORG_ID:
        raise ValueError(f"org id must be an integer between 1 and {MAX_ORG_ID}, got {org_id!r}")
    return org_id


def _match(pattern: re.Pattern[str], name: str) -> int | None:
    m = pattern.fullmatch(name)
    if m is None:
        return None
    value = int(m.group(1))
    return value if value <= MAX_ORG_ID else None
