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

from railzway.admin import sessions as admin_session
from railzway.audit.connection import scrub

INSIDE_APPLICATION = "railzway-audit-inside"

# The tenant's own schemas first (a handful of rows), then an index lookup in the catalogue per object of
# theirs: a join the other way round scans the whole of pg_proc twice in every database. Every object a
# tenant (or anyone after initdb) creates has an OID of at least FirstNormalObjectId (16384, PostgreSQL's
# transam.h; OIDs wrap around above it, never below, and pg_upgrade keeps them): a range scan of each
# catalogue's OID index finds them without reading the thousands of built-in rows. On a fresh backend, whose
# catalogue caches are cold, that is what the statement costs: 2 ms instead of 6 for pg_proc alone.
FIRST_NORMAL_OBJECT_ID = 16384
SHADOWS_QUERY = f"""
WITH ns AS MATERIALIZED (
    SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
), procs AS MATERIALIZED (
    SELECT ns.nspname, p.proname, p.proargtypes
    FROM pg_catalog.pg_proc p JOIN ns ON ns.oid = p.pronamespace WHERE p.oid >= {FIRST_NORMAL_OBJECT_ID}
), oprs AS MATERIALIZED (
    SELECT ns.nspname, o.oprname, o.oprleft, o.oprright
    FROM pg_catalog.pg_operator o JOIN ns ON ns.oid = o.oprnamespace WHERE o.oid >= {FIRST_NORMAL_OBJECT_ID}
), rels AS MATERIALIZED (
    SELECT ns.nspname, r.relname FROM pg_catalog.pg_class r JOIN ns ON ns.oid = r.relnamespace
    WHERE r.oid >= {FIRST_NORMAL_OBJECT_ID}
), types AS MATERIALIZED (
    SELECT ns.nspname, t.typname FROM pg_catalog.pg_type t JOIN ns ON ns.oid = t.typnamespace
    WHERE t.oid >= {FIRST_NORMAL_OBJECT_ID} AND t.typrelid = 0
)
SELECT kind, schema, name FROM (
    SELECT 'function' AS kind, nspname AS schema,
           proname || '(' || pg_catalog.oidvectortypes(proargtypes) || ')' AS name
    FROM procs
    WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_proc c
                  WHERE c.proname OPERATOR(pg_catalog.=) procs.proname
                    AND c.proargtypes OPERATOR(pg_catalog.=) procs.proargtypes
                    AND c.pronamespace = 'pg_catalog'::pg_catalog.regnamespace)
  UNION ALL
    SELECT 'operator', nspname,
           oprname || '(' || pg_catalog.format_type(oprleft, NULL) || ', ' || pg_catalog.format_type(oprright, NULL) || ')'
    FROM oprs
    WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_operator c
                  WHERE c.oprname OPERATOR(pg_catalog.=) oprs.oprname
                    AND c.oprleft OPERATOR(pg_catalog.=) oprs.oprleft
                    AND c.oprright OPERATOR(pg_catalog.=) oprs.oprright
                    AND c.oprnamespace = 'pg_catalog'::pg_catalog.regnamespace)
  UNION ALL
    SELECT 'relation', nspname, relname::text FROM rels
    WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                  WHERE c.relname OPERATOR(pg_catalog.=) rels.relname
                    AND c.relnamespace = 'pg_catalog'::pg_catalog.regnamespace)
  UNION ALL
    SELECT 'type', nspname, typname::text FROM types
    WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_type c
                  WHERE c.typname OPERATOR(pg_catalog.=) types.typname
                    AND c.typnamespace = 'pg_catalog'::pg_catalog.regnamespace)
  UNION ALL
    SELECT 'schema', nspname, nspname::text FROM ns
    WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                  WHERE r.rolname OPERATOR(pg_catalog.=) ns.nspname
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
