"""Comparing the registry with the server: (expected tenants, catalogue snapshot) -> findings.

Pure functions, no I/O: every rule is tested on snapshots read from a real server, and the same snapshot
gives the same findings. Each finding names the org, the object, what is wrong and how to fix it.

Two severities. A *finding* is a security or data problem (someone else can reach a tenant's data, a
tenant has powers beyond its database, data we hold is no longer managed): the audit exits 1. A
*warning* is configuration drift, most of which `pulumi up` repairs (limits, connection switches): the
audit exits 0 unless `--strict`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from railzway.audit.catalogue import PRIVILEGE_COLUMNS, DatabaseRow, Membership, RoleRow, Snapshot
from railzway.audit.expected import ExpectedTenant
from railzway.registry import naming
from railzway.tenant import spec

Severity = Literal["finding", "warning"]
FINDING: Severity = "finding"
WARNING: Severity = "warning"

# pg_roles column -> (what it lets the role do, the ALTER ROLE keyword that takes it away).
ROLE_FLAG_TEXT: dict[str, tuple[str, str]] = {
    "rolsuper": ("is a superuser", "NOSUPERUSER"),
    "rolcreatedb": ("can create databases", "NOCREATEDB"),
    "rolcreaterole": ("can create roles", "NOCREATEROLE"),
    "rolreplication": ("can replicate the whole server", "NOREPLICATION"),
    "rolbypassrls": ("bypasses row-level security", "NOBYPASSRLS"),
}

# Built-in roles whose powers reach past a tenant's own database: reading or writing every table, the
# server's files or programs, other sessions' queries, or signalling other tenants' backends.
POWERFUL_BUILTIN_ROLE_PREFIX = "pg_"

_PULUMI_UP = "run `pulumi up` on the stack that holds the tenant"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    """A stable identifier of the rule (`role-privileged`, `foreign-connect`, ...), for scripts."""
    org_id: int | None
    """The org the object belongs to; None only for an object whose name no org id can be read from."""
    object: str
    """`role <name>` or `database <name>`."""
    problem: str
    fix: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def find(
    expected: Sequence[ExpectedTenant],
    known_org_ids: Collection[int],
    snapshot: Snapshot,
    purged_org_ids: Collection[int] = (),
) -> list[Finding]:
    """Every finding and warning, findings first, then by org id.

    `expected` are the tenants this server should hold; `known_org_ids` every org the registry knows
    (with `--region`, tenants of other regions are known, so their objects are neither checked nor
    orphans: in development one server serves every region). `purged_org_ids` are the Cloud DB's
    tombstones: a purged org's role or database on the server is not an orphan but a reappearance.
    """
    results: list[Finding] = []
    for tenant in expected:
        results.extend(_role_findings(tenant, snapshot.roles.get(tenant.role)))
        database = snapshot.databases.get(tenant.database)
        results.extend(_database_findings(tenant, database))
        if database is not None and tenant.database in snapshot.connectors:
            results.extend(_connect_findings(tenant, database, snapshot.connectors[tenant.database], snapshot))
    results.extend(_orphans(known_org_ids, snapshot, purged_org_ids))
    expected_ids = {t.org_id for t in expected}
    results.extend(_membership_findings(snapshot, expected_ids, set(known_org_ids)))
    return sort_findings(results)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Findings before warnings, then by org id (objects without one last), object and rule."""
    return sorted(findings, key=lambda f: (f.severity != FINDING, f.org_id is None, f.org_id or 0, f.object, f.code))


def _role_findings(tenant: ExpectedTenant, role: RoleRow | None) -> Iterator[Finding]:
    subject = f"role {tenant.role}"
    if role is None:
        yield Finding(
            FINDING,
            "role-missing",
            tenant.org_id,
            subject,
            "does not exist: the tenant cannot log in"
            if not tenant.terminated
            else "does not exist (the tenant is terminated, its database should keep an owner)",
            f"{_PULUMI_UP}; it creates the role again",
        )
        return
    if role.privileges:
        held = [c for c in PRIVILEGE_COLUMNS if c in role.privileges]
        what = ", ".join(ROLE_FLAG_TEXT.get(c, (c, ""))[0] for c in held)
        keywords = " ".join(ROLE_FLAG_TEXT[c][1] for c in held if c in ROLE_FLAG_TEXT)
        yield Finding(
            FINDING,
            "role-privileged",
            tenant.org_id,
            subject,
            f"{what}: a tenant role must hold no power beyond its own database",
            f"ALTER ROLE {_ident(tenant.role)} {keywords}; or {_PULUMI_UP}",
        )
    want = tenant.role_spec
    if role.can_login and not want.login:
        yield Finding(
            FINDING,
            "terminated-role-login",
            tenant.org_id,
            subject,
            f"can log in although the tenant is {tenant.status}",
            f"ALTER ROLE {_ident(tenant.role)} NOLOGIN; or {_PULUMI_UP}",
        )
    if want.login and not role.can_login:
        yield Finding(
            WARNING,
            "role-nologin",
            tenant.org_id,
            subject,
            f"cannot log in although the tenant is {tenant.status}",
            f"{_PULUMI_UP} (it sets LOGIN); or ALTER ROLE {_ident(tenant.role)} LOGIN",
        )
    if want.valid_until == spec.PASSWORD_VALID_FOREVER and role.password_expired:
        yield Finding(
            WARNING,
            "role-password-expired",
            tenant.org_id,
            subject,
            f"its password expired at {role.valid_until}: the tenant cannot log in",
            f"ALTER ROLE {_ident(tenant.role)} VALID UNTIL '{want.valid_until}'",
        )
    wanted_limit = want.connection_limit
    if role.connection_limit != wanted_limit:
        yield Finding(
            WARNING,
            "role-connection-limit",
            tenant.org_id,
            subject,
            f"connection limit is {_limit(role.connection_limit)}; "
            + (f"tier {tenant.tier_name} sets {wanted_limit}" if not tenant.terminated else "the tenant is terminated"),
            f"{_PULUMI_UP}; or ALTER ROLE {_ident(tenant.role)} CONNECTION LIMIT {wanted_limit}",
        )


def _database_findings(tenant: ExpectedTenant, database: DatabaseRow | None) -> Iterator[Finding]:
    subject = f"database {tenant.database}"
    if database is None:
        yield Finding(
            FINDING,
            "database-missing",
            tenant.org_id,
            subject,
            "does not exist: the tenant's data is gone or was renamed"
            if tenant.terminated
            else "does not exist: the tenant has nowhere to store its data",
            "look for a renamed database (\\l) before anything else; " + _PULUMI_UP + " to create an empty one",
        )
        return
    want = tenant.database_spec
    if database.owner != want.owner:
        yield Finding(
            FINDING,
            "database-owner",
            tenant.org_id,
            subject,
            f"is owned by {database.owner}, not by the tenant's role {want.owner}",
            f"ALTER DATABASE {_ident(tenant.database)} OWNER TO {_ident(want.owner)}; or {_PULUMI_UP}",
        )
    if database.public_privileges:
        held = ", ".join(sorted(database.public_privileges))
        yield Finding(
            FINDING,
            "public-privileges",
            tenant.org_id,
            subject,
            f"PUBLIC holds {held}: every role on the server may use it",
            f"REVOKE ALL ON DATABASE {_ident(tenant.database)} FROM PUBLIC; or {_PULUMI_UP}",
        )
    if database.is_template:
        yield Finding(
            FINDING,
            "database-template",
            tenant.org_id,
            subject,
            "is marked as a template: any role that may create databases can copy its data",
            f"ALTER DATABASE {_ident(tenant.database)} IS_TEMPLATE false",
        )
    if database.encoding != want.encoding:
        yield Finding(
            WARNING,
            "database-encoding",
            tenant.org_id,
            subject,
            f"encoding is {database.encoding}, not {want.encoding}",
            f"an encoding cannot be changed in place: dump, recreate from {want.template} as {want.encoding}, restore",
        )
    if want.allow_connections and not database.allow_connections:
        yield Finding(
            WARNING,
            "database-refuses-connections",
            tenant.org_id,
            subject,
            # A terminated tenant is kept out by its role and the connection limit; ALLOW_CONNECTIONS false
            # shuts out the admin as well, and the provider, which connects to manage the database's grant.
            "does not accept connections, not even the admin's: `pulumi up` cannot manage its grant"
            if tenant.terminated
            else f"does not accept connections although the tenant is {tenant.status}",
            f"ALTER DATABASE {_ident(tenant.database)} ALLOW_CONNECTIONS true; or {_PULUMI_UP}",
        )
    wanted_limit = want.connection_limit
    if tenant.terminated:
        if database.connection_limit != wanted_limit:
            yield Finding(
                WARNING,
                "terminated-database-connections",
                tenant.org_id,
                subject,
                f"still accepts connections (limit {_limit(database.connection_limit)}) although the "
                "tenant is terminated",
                f"ALTER DATABASE {_ident(tenant.database)} CONNECTION LIMIT {wanted_limit}; or {_PULUMI_UP}",
            )
        return
    if database.connection_limit != wanted_limit:
        yield Finding(
            WARNING,
            "database-connection-limit",
            tenant.org_id,
            subject,
            f"connection limit is {_limit(database.connection_limit)}; tier {tenant.tier_name} sets {wanted_limit}",
            f"{_PULUMI_UP}; or ALTER DATABASE {_ident(tenant.database)} CONNECTION LIMIT {wanted_limit}",
        )


def _connect_findings(
    tenant: ExpectedTenant, database: DatabaseRow, connectors: frozenset[str], snapshot: Snapshot
) -> Iterator[Finding]:
    subject = f"database {tenant.database}"
    for role in sorted(connectors - {tenant.role}):
        if role == database.owner:
            continue  # the wrong owner is already a finding of its own, with the right fix
        other = naming.org_id_of_role(role)
        who = f"role {role} (org {other}'s role)" if other is not None else f"role {role}"
        if role in database.connect_grantees:
            fix = f"REVOKE CONNECT ON DATABASE {_ident(tenant.database)} FROM {_ident(role)}"
        else:
            fix = (
                f"{role} gets CONNECT through a role it belongs to: REVOKE that membership "
                f"(`\\du {role}` lists them) or the group's CONNECT on {tenant.database}"
            )
        yield Finding(
            FINDING, "foreign-connect", tenant.org_id, subject, f"{who} may connect; only {tenant.role} may", fix
        )
    role_row = snapshot.roles.get(tenant.role)
    if not tenant.terminated and role_row is not None and tenant.role not in connectors and not role_row.superuser:
        yield Finding(
            WARNING,
            "own-connect",
            tenant.org_id,
            subject,
            f"the tenant's own role {tenant.role} may not connect to it",
            f"GRANT CONNECT ON DATABASE {_ident(tenant.database)} TO {_ident(tenant.role)}",
        )


def _orphans(known_org_ids: Collection[int], snapshot: Snapshot, purged: Collection[int] = ()) -> Iterator[Finding]:
    for name in sorted(snapshot.databases):
        yield from _orphan("database", name, naming.org_id_of_database(name), known_org_ids, purged)
    for name in sorted(r for r in snapshot.roles if r.startswith(naming.ROLE_PREFIX)):
        yield from _orphan("role", name, naming.org_id_of_role(name), known_org_ids, purged)


def _orphan(
    kind: str, name: str, org_id: int | None, known_org_ids: Collection[int], purged: Collection[int] = ()
) -> Iterator[Finding]:
    if org_id is None:
        yield Finding(
            WARNING,
            f"unrecognised-{kind}-name",
            None,
            f"{kind} {name}",
            f"looks like a tenant {kind} but its name is not one the fleet creates",
            f"rename or drop it deliberately; tenant {kind}s are named "
            f"{naming.DATABASE_PREFIX if kind == 'database' else naming.ROLE_PREFIX}<org id>",
        )
    elif org_id not in known_org_ids and org_id in purged:
        yield Finding(
            FINDING,
            f"purged-{kind}-reappeared",
            org_id,
            f"{kind} {name}",
            f"org {org_id} was purged (its data deleted on request) and this {kind} exists again",
            f"find who created it (pg_stat_activity, the server log); `railzway purge --org {org_id} "
            f"--confirm {org_id}` takes a final backup and drops it again",
        )
    elif org_id not in known_org_ids:
        yield Finding(
            FINDING,
            f"orphan-{kind}",
            org_id,
            f"{kind} {name}",
            f"org {org_id} is not in the registry: we hold this {kind} and no longer manage it",
            f"restore tenants/orgs/{org_id}.yaml (status: terminated keeps the data without logins), "
            f"or back it up and drop it deliberately",
        )


def _membership_findings(snapshot: Snapshot, expected_ids: set[int], known_ids: set[int]) -> Iterator[Finding]:
    for m in snapshot.memberships:
        member_org = naming.org_id_of_role(m.member)
        role_org = naming.org_id_of_role(m.role)
        in_scope = (
            member_org is None or member_org in expected_ids or member_org not in known_ids or role_org in expected_ids
        )
        if m.member == m.role or not in_scope:
            continue
        yield _membership(m, member_org, role_org, snapshot.roles.get(m.role))


def _membership(m: Membership, member_org: int | None, role_org: int | None, granted: RoleRow | None) -> Finding:
    subject = f"role {m.member}"
    how = "" if m.depth == 1 else f" (through {m.depth - 1} intermediate role{'s' * (m.depth > 2)})"
    fix = (
        f"REVOKE {_ident(m.role)} FROM {_ident(m.member)}"
        if m.depth == 1
        else f"REVOKE the membership chain from {m.member} to {m.role} (`\\du {m.member}`)"
    )
    if role_org is not None:
        return Finding(
            FINDING,
            "tenant-membership",
            member_org,
            subject,
            f"is a member of org {role_org}'s role {m.role}{how}: it inherits that tenant's access",
            fix,
        )
    if granted is not None and (granted.superuser or granted.privileges):
        return Finding(
            FINDING,
            "privileged-membership",
            member_org,
            subject,
            f"is a member of {m.role}{how}, which "
            f"{', '.join(ROLE_FLAG_TEXT.get(c, (c, ''))[0] for c in PRIVILEGE_COLUMNS if c in granted.privileges)}",
            fix,
        )
    if m.role.startswith(POWERFUL_BUILTIN_ROLE_PREFIX):
        return Finding(
            FINDING,
            "builtin-membership",
            member_org,
            subject,
            f"is a member of the built-in role {m.role}{how}, whose powers reach past its own database",
            fix,
        )
    return Finding(
        WARNING,
        "membership",
        member_org,
        subject,
        f"is a member of {m.role}{how}; the fleet grants tenant roles no membership",
        fix,
    )


def _limit(value: int) -> str:
    return "unlimited (-1)" if value < 0 else str(value)


def _ident(name: str) -> str:
    """A SQL identifier, quoted as PostgreSQL reads it, for the fix text (never executed here)."""
    return '"' + name.replace('"', '""') + '"'
