"""When is an admin session safe inside a database a tenant owns? The rules, written once (pure, no I/O).

A tenant role owns its database, and a database owner may `ALTER DATABASE ... SET` most session settings.
Those settings apply to every session in that database, the admin's included: a `search_path` that puts a
tenant schema first makes every unqualified name the admin's client sends (`pg_roles`,
`pg_advisory_xact_lock(...)`, an operator, a type) resolve to the tenant's objects, which then run with
the admin's privileges (issue 13: a tenant became superuser when the provider wrote a grant).

PostgreSQL applies settings by source, the later beating the earlier: database < role < role-in-database
< the client's startup `options` (`-c name=value`, `PGOPTIONS`) < `SET`. So two defences, both used:

- the region's provisioning admin carries a role-level `search_path = pg_catalog, pg_temp` (a one-time
  set-up, README "Region set-up"), which beats any database-level value for every client, the provider
  included; the program refuses to run the provider against an admin without it (`admin_problems`);
- every session our own code opens as the admin, and the provider's sessions under the Automation API
  (`PGOPTIONS`), pin `PINNED_SETTINGS` as startup options, which beat everything a tenant can set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

OPTIONS_ENV = "PGOPTIONS"

# Only the catalogue, then our own temporary schema (listed last, so it cannot shadow catalogue names).
SAFE_SEARCH_PATH = ("pg_catalog", "pg_temp")
SAFE_SEARCH_PATH_SQL = ", ".join(SAFE_SEARCH_PATH)

# What a database owner may set that steers or stops an admin session in its database, verified on
# PostgreSQL 15 (tests/security/test_admin_session.py): `search_path` (escalation), `role` (the admin's
# session runs as another role), `default_transaction_read_only`, the timeouts and
# `local_preload_libraries` (every admin connection or write into that database fails). Startup options
# beat database- and role-level values; `session_authorization` set on a database is ignored by the server,
# and `session_replication_role` needs a superuser.
PINNED_SETTINGS: tuple[tuple[str, str], ...] = (
    ("search_path", ",".join(SAFE_SEARCH_PATH)),
    ("role", "none"),
    ("default_transaction_read_only", "off"),
    ("statement_timeout", "0"),
    ("lock_timeout", "0"),
    ("idle_in_transaction_session_timeout", "0"),
    ("local_preload_libraries", ""),
)

# The server's own databases: PostgreSQL grants PUBLIC CONNECT (and TEMPORARY) on them, so every tenant
# could connect there. The program revokes both per region (components.RegionHardening). template0 does
# not accept connections and cannot be changed.
SERVER_DATABASES = ("postgres", "template1")


def session_options(existing: str | None = None) -> str:
    """libpq `options` that pin `PINNED_SETTINGS`, after any `existing` options (a later `-c` wins)."""
    pinned = " ".join(f"-c {name}={value}" for name, value in PINNED_SETTINGS)
    existing = (existing or "").strip()
    return f"{existing} {pinned}" if existing else pinned


def provider_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """`PGOPTIONS` for a process that runs the postgresql provider: the caller's options, then ours."""
    return {OPTIONS_ENV: session_options(environ.get(OPTIONS_ENV))}


def search_path_schemas(value: str) -> list[str]:
    """The schemas of a `search_path` value as PostgreSQL stores it (`"$user", public` -> [$user, public])."""
    schemas = []
    for part in value.split(","):
        name = part.strip()
        if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
            name = name[1:-1].replace('""', '"')
        if name:
            schemas.append(name)
    return schemas


def search_path_is_safe(value: str) -> bool:
    """True when a session with this search_path resolves unqualified names only in the catalogue.

    `pg_catalog` must come first (otherwise it is searched first implicitly, which is also safe, but an
    explicit list is what we check), and nothing but `pg_temp` (the session's own, unreachable by a
    tenant) may follow it.
    """
    schemas = search_path_schemas(value)
    return bool(schemas) and schemas[0] == "pg_catalog" and set(schemas) <= set(SAFE_SEARCH_PATH)


def setting_value(entries: Iterable[str] | None, name: str) -> str | None:
    """The value of `name` in a `pg_db_role_setting.setconfig` array (`["search_path=a, b", ...]`)."""
    for entry in entries or ():
        key, sep, value = entry.partition("=")
        if sep and key.strip().lower() == name:
            return value
    return None


def setup_sql(admin: str) -> str:
    """The one-time statement that makes `admin`'s sessions immune to a tenant database's search_path."""
    return f"ALTER ROLE {quote_ident(admin)} SET search_path = {SAFE_SEARCH_PATH_SQL}"


def admin_problems(
    admin: str, role_settings: Sequence[str] | None, per_database: Mapping[str, Sequence[str]]
) -> list[str]:
    """Why `admin`'s sessions can be steered by a tenant database; [] when they cannot.

    `role_settings` is the admin's role-level `setconfig` (any database), `per_database` its
    role-in-database ones by database name (they beat the role-level value in that database).
    """
    problems = []
    path = setting_value(role_settings, "search_path")
    if path is None:
        problems.append(
            f"role {admin} has no role-level search_path, so in a tenant's database its sessions use the "
            "search_path the tenant sets on that database"
        )
    elif not search_path_is_safe(path):
        problems.append(
            f"role {admin} has the role-level search_path {path!r}; only {SAFE_SEARCH_PATH_SQL!r} keeps tenant "
            "schemas out of its sessions"
        )
    for database, settings in sorted(per_database.items()):
        value = setting_value(settings, "search_path")
        if value is not None and not search_path_is_safe(value):
            problems.append(
                f"role {admin} has the search_path {value!r} in database {database} (ALTER ROLE ... IN DATABASE), "
                f"which beats its role-level one: ALTER ROLE {quote_ident(admin)} IN DATABASE "
                f"{quote_ident(database)} RESET search_path"
            )
    return problems


def quote_ident(name: str) -> str:
    """A SQL identifier as PostgreSQL reads it, for messages and fixes shown to an operator."""
    return '"' + name.replace('"', '""') + '"'
