"""What a PostgreSQL server really holds, read in a fixed number of queries.

An audit of 1,000 tenants must take seconds, so nothing here loops over tenants: each query reads one
catalogue for the whole server, in one read-only REPEATABLE READ transaction so that the queries agree
with each other, and `findings` does the comparing in Python. The number of statements is the same for
one tenant and for ten thousand.

The "who can connect" question is asked once for every (role, tenant database) pair with
`has_database_privilege`, which follows role membership exactly as the server does when it checks a
login; reading ACLs by hand would miss privileges that arrive through a group role.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from railzway.admin import session_rules as admin_rules
from railzway.admin.sessions import ADMIN_SETTINGS_QUERY, AdminSettings, admin_settings_from_rows
from railzway.registry import naming
from railzway.tenant.spec import ROLE_PRIVILEGE_FLAGS

# pg_roles columns that must all be false on a tenant role, in the order of the tenant specification.
PRIVILEGE_COLUMNS: tuple[str, ...] = tuple(column for _, column in ROLE_PRIVILEGE_FLAGS.values())

# Membership chains are acyclic in PostgreSQL; the bound only keeps a damaged catalogue from looping.
_MAX_MEMBERSHIP_DEPTH = 32


@dataclass(frozen=True)
class ServerInfo:
    """Who we are on the server: the auditor's own role is trusted and left out of the connect check."""

    user: str
    superuser: bool
    version: str
    address: str


@dataclass(frozen=True)
class RoleRow:
    name: str
    can_login: bool
    connection_limit: int
    valid_until: str | None
    """As the server prints it: 'infinity' does not fit a Python datetime."""
    password_expired: bool
    superuser: bool
    privileges: frozenset[str]
    """The PRIVILEGE_COLUMNS that are true."""


@dataclass(frozen=True)
class DatabaseRow:
    name: str
    owner: str
    allow_connections: bool
    connection_limit: int
    is_template: bool
    encoding: str
    public_privileges: frozenset[str]
    """Privileges PUBLIC holds, spelt as `aclexplode` does (CONNECT, TEMPORARY, CREATE)."""
    connect_grantees: frozenset[str]
    """Roles granted CONNECT by name in the database's ACL (the owner's implicit grant included)."""


@dataclass(frozen=True)
class Membership:
    """`member` belongs to `role`, directly (depth 1) or through a chain of group roles."""

    member: str
    role: str
    depth: int


@dataclass(frozen=True)
class SettingRow:
    """Settings a tenant database or role carries for itself (`pg_db_role_setting`): they apply to every
    session there, the admin's included, unless the admin pins them."""

    database: str | None
    """The database they apply in, or None for every database."""
    role: str | None
    """The role they apply to, or None for every role."""
    settings: tuple[str, ...]
    """`name=value` entries."""


@dataclass(frozen=True)
class Snapshot:
    """The server's catalogue as far as tenants are concerned."""

    server: ServerInfo
    roles: dict[str, RoleRow]
    """Every role on the server (orphans, intruders and superusers are all found here)."""
    databases: dict[str, DatabaseRow]
    """Every database whose name starts with the tenant database prefix."""
    connectors: dict[str, frozenset[str]]
    """Tenant database -> non-superuser roles other than the auditor that may CONNECT. A database where
    PUBLIC holds CONNECT is left out: everyone may connect there, which is a finding of its own."""
    memberships: tuple[Membership, ...]
    """Every role each tenant-prefixed role belongs to, transitively."""
    statements: int
    """Statements sent to read this snapshot; fixed, whatever the number of tenants."""
    admin: AdminSettings | None = None
    """The auditing admin's own role and settings: can a tenant database steer its sessions?"""
    settings: tuple[SettingRow, ...] = ()
    """Settings carried by tenant databases and tenant roles."""
    server_databases: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """What PUBLIC holds on the server's own databases (`admin_rules.SERVER_DATABASES`)."""
    sessions: Mapping[str, int] = field(default_factory=dict)
    """Open sessions by tenant-prefixed role."""


@dataclass(frozen=True)
class Usage:
    """A tenant database's live figures, for `railzway report`."""

    size_bytes: int
    connections: int


_SERVER = """
SELECT current_user, r.rolsuper, current_setting('server_version')
FROM pg_roles r WHERE r.rolname = current_user
"""

_ROLES = """
SELECT rolname, rolcanlogin, rolconnlimit, rolvaliduntil::text, rolvaliduntil <= now(), rolsuper, {flags}
FROM pg_roles
"""

_DATABASES = """
SELECT d.datname,
       pg_get_userbyid(d.datdba),
       d.datallowconn,
       d.datconnlimit,
       d.datistemplate,
       pg_encoding_to_char(d.encoding),
       ARRAY(SELECT a.privilege_type
             FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
             WHERE a.grantee = 0),
       ARRAY(SELECT pg_get_userbyid(a.grantee)
             FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
             WHERE a.grantee <> 0 AND a.privilege_type = 'CONNECT')
FROM pg_database d
WHERE starts_with(d.datname, %(database_prefix)s)
"""

# Databases where PUBLIC may connect are skipped: every role would match, and the PUBLIC grant is
# reported on its own. The loop runs role by role (a subquery per role, databases inside): the server
# caches the membership of the last role it checked, so visiting each role once keeps the million checks
# of a 1,000-tenant server in a fraction of a second, where a database-by-database join takes seconds.
_CONNECTORS = """
WITH dbs AS MATERIALIZED (
    SELECT oid, datname FROM pg_database
    WHERE starts_with(datname, %(database_prefix)s)
      AND NOT has_database_privilege('public', oid, 'CONNECT')
), reach AS MATERIALIZED (
    SELECT r.rolname,
           ARRAY(SELECT dbs.datname FROM dbs WHERE has_database_privilege(r.oid, dbs.oid, 'CONNECT')) AS databases
    FROM pg_roles r
    WHERE NOT r.rolsuper AND r.rolname <> current_user
)
SELECT rolname, databases FROM reach WHERE cardinality(databases) > 0
"""

_MEMBERSHIPS = """
WITH RECURSIVE chain(member, granted, depth) AS (
    SELECT a.member, a.roleid, 1
    FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.member
    WHERE starts_with(r.rolname, %(role_prefix)s)
  UNION ALL
    SELECT c.member, a.roleid, c.depth + 1
    FROM chain c JOIN pg_auth_members a ON a.member = c.granted
    WHERE c.depth < %(max_depth)s
)
SELECT pg_get_userbyid(member), pg_get_userbyid(granted), min(depth)
FROM chain GROUP BY 1, 2
"""

_SETTINGS = """
SELECT d.datname, r.rolname, s.setconfig
FROM pg_catalog.pg_db_role_setting s
LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
WHERE starts_with(d.datname, %(database_prefix)s) OR starts_with(r.rolname, %(role_prefix)s)
"""

_SERVER_DATABASES = """
SELECT d.datname,
       ARRAY(SELECT a.privilege_type
             FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
             WHERE a.grantee = 0)
FROM pg_database d
WHERE d.datname = ANY(%(server_databases)s)
"""

_SESSIONS = """
SELECT usename, count(*) FROM pg_stat_activity
WHERE starts_with(usename, %(role_prefix)s) AND backend_type = 'client backend'
GROUP BY usename
"""

_USAGE = """
SELECT d.datname, pg_database_size(d.oid), coalesce(s.connections, 0)
FROM pg_database d
LEFT JOIN (
    SELECT datid, count(*) AS connections FROM pg_stat_activity
    WHERE backend_type = 'client backend' GROUP BY datid
) s ON s.datid = d.oid
WHERE starts_with(d.datname, %(database_prefix)s)
"""


def read_catalogue(conn: psycopg.Connection) -> Snapshot:
    """Read every role, every tenant database, who may connect to each, and tenant role memberships."""
    params: dict[str, Any] = {
        "database_prefix": naming.DATABASE_PREFIX,
        "role_prefix": naming.ROLE_PREFIX,
        "max_depth": _MAX_MEMBERSHIP_DEPTH,
        "server_databases": list(admin_rules.SERVER_DATABASES),
    }
    roles_query = sql.SQL(_ROLES).format(flags=sql.SQL(", ").join(sql.Identifier(c) for c in PRIVILEGE_COLUMNS))
    counter = _Counter(conn)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    with conn.transaction():  # one BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY, one COMMIT
        server_row = counter.one(_SERVER)
        role_rows = counter.all(roles_query)
        database_rows = counter.all(_DATABASES, params)
        connector_rows = counter.all(_CONNECTORS, params)
        membership_rows = counter.all(_MEMBERSHIPS, params)
        admin_rows = counter.all(ADMIN_SETTINGS_QUERY)
        setting_rows = counter.all(_SETTINGS, params)
        server_database_rows = counter.all(_SERVER_DATABASES, params)
        session_rows = counter.all(_SESSIONS, params)
    info = conn.info
    server = ServerInfo(
        user=server_row[0],
        superuser=bool(server_row[1]),
        version=str(server_row[2]).split()[0],  # "15.18 (Debian 15.18-0+deb12u1)" -> "15.18"
        address=f"{info.host}:{info.port}",
    )
    roles = {row[0]: _role(row) for row in role_rows}
    databases = {row[0]: _database(row) for row in database_rows}
    connectors: dict[str, set[str]] = {}
    for rolname, datnames in connector_rows:
        for datname in datnames:
            connectors.setdefault(datname, set()).add(rolname)
    for name, database in databases.items():
        if "CONNECT" not in database.public_privileges:
            connectors.setdefault(name, set())
    memberships = tuple(
        sorted(
            (Membership(member, role, int(depth)) for member, role, depth in membership_rows),
            key=lambda m: (m.member, m.role),
        )
    )
    return Snapshot(
        server=server,
        roles=roles,
        databases=databases,
        connectors={name: frozenset(found) for name, found in connectors.items()},
        memberships=memberships,
        statements=counter.statements + 2,  # BEGIN and COMMIT
        admin=admin_settings_from_rows(admin_rows),
        settings=tuple(
            SettingRow(database, role, tuple(config or ()))
            for database, role, config in sorted(setting_rows, key=lambda r: (r[0] or "", r[1] or ""))
        ),
        server_databases={name: frozenset(public) for name, public in server_database_rows},
        sessions={name: int(count) for name, count in session_rows},
    )


def read_usage(conn: psycopg.Connection) -> dict[str, Usage]:
    """Size and open client connections of every tenant database, in one query."""
    rows = conn.execute(_USAGE, {"database_prefix": naming.DATABASE_PREFIX}).fetchall()
    return {name: Usage(size_bytes=int(size), connections=int(count)) for name, size, count in rows}


def _role(row: tuple[Any, ...]) -> RoleRow:
    name, can_login, limit, valid_until, expired, superuser, *flags = row
    return RoleRow(
        name=name,
        can_login=bool(can_login),
        connection_limit=int(limit),
        valid_until=valid_until,
        password_expired=bool(expired),
        superuser=bool(superuser),
        privileges=frozenset(column for column, value in zip(PRIVILEGE_COLUMNS, flags, strict=True) if value),
    )


def _database(row: tuple[Any, ...]) -> DatabaseRow:
    name, owner, allow, limit, template, encoding, public, grantees = row
    return DatabaseRow(
        name=name,
        owner=owner,
        allow_connections=bool(allow),
        connection_limit=int(limit),
        is_template=bool(template),
        encoding=encoding,
        public_privileges=frozenset(public),
        connect_grantees=frozenset(grantees),
    )


class _Counter:
    """Runs queries on one connection and counts them, so the fixed query count is checked, not claimed."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.statements = 0

    def all(self, query: str | sql.Composable, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        self.statements += 1
        return self.conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def one(self, query: str) -> tuple[Any, ...]:
        rows = self.all(query)
        if len(rows) != 1:
            raise psycopg.DataError("the server did not report the current role")
        return rows[0]
