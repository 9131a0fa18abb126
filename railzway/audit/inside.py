"""A look inside each tenant database for objects that shadow catalogue names (issue 13).

A tenant owns its database and may create anything there. An object named like a catalogue object
(`pg_roles`, `pg_advisory_xact_lock(bigint)`, `=` on `name`), or a schema named after a superuser (what
`"$user"` in a search_path finds), only waits for an admin session whose search_path puts it first: a
trap, whatever the tenant says it is for. Our own sessions pin the search_path, so reading is safe: one
connection and one statement per database, through `admin_session.connect_admin`.

Functions and operators count only with the argument types of a catalogue one (an extension such as
citext legitimately defines `lower(citext)` or `=` on its own type); relations, types and schemas count
by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg

from railzway import admin_session
from railzway.audit.connection import scrub

INSIDE_APPLICATION = "railzway-audit-inside"

_USER_SCHEMAS = """
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
"""

SHADOWS_QUERY = f"""
SELECT kind, schema, name FROM (
    SELECT 'function' AS kind, n.nspname AS schema,
           p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')' AS name
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE {_USER_SCHEMAS}
      AND EXISTS (SELECT 1 FROM pg_catalog.pg_proc c
                  WHERE c.pronamespace = 'pg_catalog'::pg_catalog.regnamespace
                    AND c.proname OPERATOR(pg_catalog.=) p.proname
                    AND c.proargtypes OPERATOR(pg_catalog.=) p.proargtypes)
  UNION ALL
    SELECT 'operator', n.nspname,
           o.oprname || '(' || pg_catalog.format_type(o.oprleft, NULL) || ', '
                     || pg_catalog.format_type(o.oprright, NULL) || ')'
    FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
    WHERE {_USER_SCHEMAS}
      AND EXISTS (SELECT 1 FROM pg_catalog.pg_operator c
                  WHERE c.oprnamespace = 'pg_catalog'::pg_catalog.regnamespace
                    AND c.oprname OPERATOR(pg_catalog.=) o.oprname
                    AND c.oprleft OPERATOR(pg_catalog.=) o.oprleft
                    AND c.oprright OPERATOR(pg_catalog.=) o.oprright)
  UNION ALL
    SELECT 'relation', n.nspname, r.relname::text
    FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
    WHERE {_USER_SCHEMAS}
      AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                  WHERE c.relnamespace = 'pg_catalog'::pg_catalog.regnamespace
                    AND c.relname OPERATOR(pg_catalog.=) r.relname)
  UNION ALL
    SELECT 'type', n.nspname, t.typname::text
    FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
    WHERE {_USER_SCHEMAS} AND t.typrelid = 0
      AND EXISTS (SELECT 1 FROM pg_catalog.pg_type c
                  WHERE c.typnamespace = 'pg_catalog'::pg_catalog.regnamespace
                    AND c.typname OPERATOR(pg_catalog.=) t.typname)
  UNION ALL
    SELECT 'schema', n.nspname, n.nspname::text
    FROM pg_catalog.pg_namespace n
    WHERE {_USER_SCHEMAS}
      AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                  WHERE r.rolname OPERATOR(pg_catalog.=) n.nspname
                    AND (r.rolsuper OR r.rolname OPERATOR(pg_catalog.=) CURRENT_USER))
) shadows
ORDER BY 1, 2, 3
"""


@dataclass(frozen=True)
class Shadow:
    kind: str
    """function, operator, relation, type or schema."""
    schema: str
    name: str


@dataclass(frozen=True)
class Inside:
    """What the look inside the tenant databases found."""

    shadows: dict[str, list[Shadow]]
    """Database -> its shadowing objects (databases without any are absent)."""
    unreadable: dict[str, str]
    """Database -> why it could not be read."""
    statements: int


# Connections opened at once: a connection (with its password handshake) costs far more than the statement,
# so a few in parallel; few enough to leave the server's connection slots to its tenants.
PARALLEL_CONNECTIONS = 4


def read_inside(admin_url: str, databases: Iterable[str], parallel: int = PARALLEL_CONNECTIONS) -> Inside:
    """Connect to each database (our pinned way, `parallel` at a time) and list what shadows the catalogue."""
    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="audit-inside") as pool:
        results = list(pool.map(lambda database: _read_one(admin_url, database), databases))
    shadows = {database: found for database, found, _ in results if found}
    unreadable = {database: reason for database, _, reason in results if reason is not None}
    return Inside(shadows, unreadable, statements=sum(1 for _, _, reason in results if reason is None))


def _read_one(admin_url: str, database: str) -> tuple[str, list[Shadow], str | None]:
    try:
        with admin_session.connect_admin(admin_url, dbname=database, application_name=INSIDE_APPLICATION) as conn:
            rows = conn.execute(SHADOWS_QUERY).fetchall()
    except psycopg.Error as e:
        return database, [], scrub(" ".join(str(e).split()), admin_url)
    return database, [Shadow(kind, schema, name) for kind, schema, name in rows], None
