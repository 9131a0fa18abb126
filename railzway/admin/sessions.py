"""Sessions as a region's admin: the one way our code opens them, and the checks of the admin itself.

Every connection our own code opens as the admin, into any database (a tenant's above all: the audit's
look inside, backups), goes through `connect_admin`, which pins `admin_rules.PINNED_SETTINGS` as startup
options: they beat every setting a tenant can put on its database or its role.

`region_admin_problems` is the program's preflight: before it declares a provider for a region, the
region's admin must carry the role-level search_path (`admin_rules.admin_problems`), because the
provider opens its own sessions and a `pulumi up` run by hand does not get our `PGOPTIONS`. Tests of the
program under Pulumi's mocks have no server: they hand their own check to `checked_by`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from railzway.admin import session_rules as admin_rules
from railzway.config.stack_config import NAMESPACE, PostgresEndpoint

CONNECT_TIMEOUT_S = 10
ADMIN_DATABASE = "postgres"


def connect_admin(conninfo: str = "", **params: Any) -> psycopg.Connection:
    """A connection (autocommit unless told otherwise) whose session no tenant setting can steer.

    Options already given (in `conninfo`, `options=` or `PGOPTIONS`) are kept, and ours come after them.
    """
    given = (
        params.pop("options", None)
        or conninfo_to_dict(conninfo).get("options")
        or os.environ.get(admin_rules.OPTIONS_ENV)
    )
    params.setdefault("autocommit", True)
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    return psycopg.connect(conninfo, options=admin_rules.session_options(str(given) if given else None), **params)


def endpoint_params(endpoint: PostgresEndpoint, dbname: str = ADMIN_DATABASE) -> dict[str, Any]:
    """libpq parameters of a region's admin; without a configured password libpq reads PGPASSWORD."""
    params: dict[str, Any] = {
        "host": endpoint.host,
        "port": endpoint.port,
        "user": endpoint.username,
        "dbname": dbname,
        "sslmode": endpoint.sslmode,
    }
    if endpoint.password:
        params["password"] = endpoint.password
    return params


@dataclass(frozen=True)
class AdminSettings:
    """The admin role as the server holds it: its privileges and its own settings."""

    user: str
    superuser: bool
    role_settings: tuple[str, ...]
    """Role-level `setconfig` (ALTER ROLE admin SET ...)."""
    per_database: Mapping[str, tuple[str, ...]]
    """Role-in-database `setconfig` by database (ALTER ROLE admin IN DATABASE d SET ...)."""

    def problems(self) -> list[str]:
        return admin_rules.admin_problems(self.user, self.role_settings, self.per_database)


ADMIN_SETTINGS_QUERY = """
SELECT r.rolname, r.rolsuper, d.datname, s.setconfig
FROM pg_catalog.pg_roles r
LEFT JOIN pg_catalog.pg_db_role_setting s ON s.setrole = r.oid
LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
WHERE r.rolname = CURRENT_USER
"""


def read_admin_settings(conn: psycopg.Connection) -> AdminSettings:
    """The connected role's privileges and settings, in one statement."""
    return admin_settings_from_rows(conn.execute(ADMIN_SETTINGS_QUERY).fetchall())


def admin_settings_from_rows(rows: Sequence[tuple[Any, ...]]) -> AdminSettings:
    """`AdminSettings` from the rows of `ADMIN_SETTINGS_QUERY`."""
    if not rows:
        raise psycopg.DataError("the server did not report the current role")
    role_settings: tuple[str, ...] = ()
    per_database: dict[str, tuple[str, ...]] = {}
    for _, _, database, config in rows:
        if config is None:
            continue
        if database is None:
            role_settings = tuple(config)
        else:
            per_database[database] = tuple(config)
    return AdminSettings(rows[0][0], bool(rows[0][1]), role_settings, per_database)


def check_region_admin(region: str, endpoint: PostgresEndpoint) -> str | None:
    """Why the program must not run the provider with this region's admin, or None when it may."""
    key = f"{NAMESPACE}:regions.{region}.postgres"
    where = f"{endpoint.username}@{endpoint.host}:{endpoint.port}"
    try:
        with connect_admin(**endpoint_params(endpoint)) as conn:
            settings = read_admin_settings(conn)
    except psycopg.Error as e:
        reason = " ".join(str(e).split())
        if endpoint.password:
            reason = reason.replace(endpoint.password, "***")
        return f"{key}: cannot check the admin {where} ({reason})"
    problems = settings.problems()
    if not problems:
        return None
    return (
        f"{key}: refusing to run the postgresql provider as {where}: a tenant could steer its sessions "
        f"(issue 13: {'; '.join(problems)}). Fix once, as a superuser on that server: "
        f"{admin_rules.setup_sql(settings.user)}; (README.md, Region set-up)"
    )


RegionAdminCheck = Callable[[str, PostgresEndpoint], "str | None"]
_check: RegionAdminCheck = check_region_admin


def region_admin_problems(endpoints: Mapping[str, PostgresEndpoint]) -> list[str]:
    """One problem per region whose admin the provider must not use, by region name."""
    return [problem for region in sorted(endpoints) if (problem := _check(region, endpoints[region])) is not None]


@contextmanager
def checked_by(check: RegionAdminCheck) -> Iterator[None]:
    """Run the program's preflight with `check` instead of a real server's (tests under mocks)."""
    global _check
    previous, _check = _check, check
    try:
        yield
    finally:
        _check = previous


_END_SESSIONS = """
SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(a.pid, %(wait_ms)s))
FROM pg_catalog.pg_stat_activity a
WHERE a.usename = %(role)s AND a.pid <> pg_catalog.pg_backend_pid()
"""


END_SESSION_WAIT_MS = 5000


def end_role_sessions(conn: psycopg.Connection, role: str) -> int:
    """End every open session of `role` on the server, waiting for each to exit; how many were ended.

    `pg_terminate_backend(pid, timeout)` (PostgreSQL 14+) returns once the backend is gone, so nothing the
    session had not committed survives the call.
    """
    row = conn.execute(_END_SESSIONS, {"role": role, "wait_ms": END_SESSION_WAIT_MS}).fetchone()
    return int(row[0]) if row else 0
