"""What a tenant is, written once: its role, database, grant, Nomad variable and job, and its outputs.

The component declares these values, the policy pack compares the engine's view of a stack with them, the
audit compares a live server with them and the Cloud DB sync validates the outputs by them. A rule about a
tenant (a connection limit by status, the database's encoding, which outputs are secret) changes here and
nowhere else. Pure: no Pulumi, no network, no files.
"""

from __future__ import annotations

from dataclasses import dataclass

from railzway.registry import naming
from railzway.registry.model import STATUSES

# The component's type token: the engine's URNs, the checkpoint and the stack policies' view name it.
TENANT_TYPE = "railzway:index:TenantInstance"

RUNNING, STOPPED, TERMINATED = "running", "stopped", "terminated"

# --- the role ---------------------------------------------------------------------------------------

# A tenant role is an ordinary login role: every privilege flag is explicitly off. Keys are the Python
# argument names of `pulumi_postgresql.Role`; values are the wire (camelCase) names the engine, the mocks
# and the policy pack see, and then the pg_roles column the audit reads.
ROLE_PRIVILEGE_FLAGS: dict[str, tuple[str, str]] = {
    "superuser": ("superuser", "rolsuper"),
    "create_database": ("createDatabase", "rolcreatedb"),
    "create_role": ("createRole", "rolcreaterole"),
    "replication": ("replication", "rolreplication"),
    "bypass_row_level_security": ("bypassRowLevelSecurity", "rolbypassrls"),
}

# A role's password is unusable once its VALID UNTIL has passed. "-infinity" has passed for ever and, unlike
# a date, reads back from the server as the same text in every time zone (the provider compares the text).
PASSWORD_VALID_FOREVER = "infinity"  # noqa: S105 - a VALID UNTIL, not a password
PASSWORD_EXPIRED_FOREVER = "-infinity"  # noqa: S105 - a VALID UNTIL, not a password


def role_login(status: str) -> bool:
    """Whether the tenant's role may log in: not once the tenant is terminated (its data stays)."""
    return status != TERMINATED


def role_valid_until(status: str) -> str:
    """The VALID UNTIL of a tenant's role: a terminated tenant's password can never be used again."""
    return PASSWORD_EXPIRED_FOREVER if status == TERMINATED else PASSWORD_VALID_FOREVER


def role_connection_limit(status: str, tier_limit: int) -> int:
    """The CONNECTION LIMIT of a tenant's role: none for a terminated tenant, its tier's otherwise."""
    return 0 if status == TERMINATED else tier_limit


@dataclass(frozen=True)
class RoleSpec:
    """The tenant's login role; every flag of `ROLE_PRIVILEGE_FLAGS` is false."""

    name: str
    login: bool
    valid_until: str
    connection_limit: int

    @staticmethod
    def privilege_flags() -> dict[str, bool]:
        """Every privilege flag, off, by its `pulumi_postgresql.Role` argument name."""
        return dict.fromkeys(ROLE_PRIVILEGE_FLAGS, False)


def role(org_id: int, status: str, tier_limit: int) -> RoleSpec:
    return RoleSpec(
        name=naming.role_name(org_id),
        login=role_login(status),
        valid_until=role_valid_until(status),
        connection_limit=role_connection_limit(status, tier_limit),
    )


# --- the database -----------------------------------------------------------------------------------

DATABASE_ENCODING = "UTF8"
# template0: template1 may carry objects someone added to it, and only template0 takes another encoding.
DATABASE_TEMPLATE = "template0"


def database_connection_limit(status: str, tier_limit: int) -> int:
    """The CONNECTION LIMIT a tenant's database should have.

    A terminated tenant's database takes no connections: a limit of 0 refuses every role except
    superusers, so the admin (and the provider, which connects to manage the database's grants) can still
    reach the retained data.
    """
    return 0 if status == TERMINATED else tier_limit


def database_allows_connections(status: str) -> bool:
    """ALLOW_CONNECTIONS, true whatever the status: false would lock out the admin too, and the provider
    must connect to the database to create, read or delete its grant, so `up`, `refresh` or removing a
    terminated tenant would fail. A terminated tenant is shut out by its role and the limit of 0 instead."""
    return True


def database_owner(org_id: int) -> str:
    """A tenant database is owned by its own tenant role, and by no one else."""
    return naming.role_name(org_id)


@dataclass(frozen=True)
class DatabaseSpec:
    name: str
    owner: str
    encoding: str
    template: str
    allow_connections: bool
    connection_limit: int


def database(org_id: int, status: str, tier_limit: int) -> DatabaseSpec:
    return DatabaseSpec(
        name=naming.database_name(org_id),
        owner=database_owner(org_id),
        encoding=DATABASE_ENCODING,
        template=DATABASE_TEMPLATE,
        allow_connections=database_allows_connections(status),
        connection_limit=database_connection_limit(status, tier_limit),
    )


def possible_connection_limits(kind: str, tier_limits: set[int]) -> set[int]:
    """Every connection limit the spec gives a tenant's role or database (`kind`) under some status and tier:
    what can be judged of a limit without knowing whose it is."""
    limit = role_connection_limit if kind == "role" else database_connection_limit
    return {limit(status, tier_limit) for status in STATUSES for tier_limit in tier_limits}


# --- the grant --------------------------------------------------------------------------------------

# PostgreSQL's pseudo-role that every role belongs to.
PUBLIC_ROLE = "public"


@dataclass(frozen=True)
class PublicRevokeSpec:
    """PostgreSQL grants CONNECT and TEMPORARY to PUBLIC on every new database, so without this any tenant
    could connect to any other tenant's database. An empty privilege list revokes them all."""

    database: str
    role: str = PUBLIC_ROLE
    object_type: str = "database"
    privileges: tuple[str, ...] = ()


def public_revoke(org_id: int) -> PublicRevokeSpec:
    return PublicRevokeSpec(database=naming.database_name(org_id))


# --- the Nomad variable and job ---------------------------------------------------------------------

# The environment a tenant's container receives from its Nomad variable (`railzway.tenant.env`).
VARIABLE_ITEMS = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DATABASE_URL")


def runs_job(status: str, has_nomad: bool) -> bool:
    """Whether the tenant has a Nomad variable and job: in a region with Nomad, unless terminated."""
    return has_nomad and status != TERMINATED


def job_stopped(status: str) -> bool:
    """A stopped tenant keeps its job registered with `Stop: true` (Nomad keeps its history)."""
    return status == STOPPED


@dataclass(frozen=True)
class VariableSpec:
    path: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class JobSpec:
    """The job's shape is `railzway.tenant.jobspec.build_jobspec`; here, whether there is one and its state."""

    job_id: str
    stopped: bool


def variable(org_id: int, status: str, has_nomad: bool) -> VariableSpec | None:
    return VariableSpec(naming.variable_path(org_id), VARIABLE_ITEMS) if runs_job(status, has_nomad) else None


def job(org_id: int, status: str, has_nomad: bool) -> JobSpec | None:
    return JobSpec(naming.job_id(org_id), job_stopped(status)) if runs_job(status, has_nomad) else None


# --- the whole tenant -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantSpec:
    org_id: int
    status: str
    role: RoleSpec
    database: DatabaseSpec
    revoke_public: PublicRevokeSpec
    variable: VariableSpec | None
    job: JobSpec | None


def tenant(org_id: int, status: str, tier_limit: int, has_nomad: bool) -> TenantSpec:
    """Everything one tenant gets, from its org id, status, tier's connection limit and region's Nomad."""
    return TenantSpec(
        org_id=org_id,
        status=status,
        role=role(org_id, status, tier_limit),
        database=database(org_id, status, tier_limit),
        revoke_public=public_revoke(org_id),
        variable=variable(org_id, status, has_nomad),
        job=job(org_id, status, has_nomad),
    )


# --- the output contract ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputField:
    key: str
    secret: bool = False


# One tenant's entry of the stack's `tenants` output: the contract the Cloud DB sync reads. The component
# registers exactly these (the secret ones as secrets); `railzway.clouddb.outputs.TenantOutput` validates them.
OUTPUTS: tuple[OutputField, ...] = (
    OutputField("org_id"),
    OutputField("db_host"),
    OutputField("db_port"),
    OutputField("db_name"),
    OutputField("db_user"),
    OutputField("db_password", secret=True),
    OutputField("database_url", secret=True),
    OutputField("nomad_job_id"),  # null without a job
    OutputField("status"),
    OutputField("tier"),
    OutputField("version"),
    OutputField("region"),
)
OUTPUT_KEYS: tuple[str, ...] = tuple(f.key for f in OUTPUTS)
SECRET_OUTPUT_KEYS: frozenset[str] = frozenset(f.key for f in OUTPUTS if f.secret)
