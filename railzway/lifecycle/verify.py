"""Prove backups usable: restore the newest into a scratch database and compare it with the live one.

`read_shape` reads what is compared (every table's row count, the schema as lines) and `differences`
compares two shapes (pure); `verify_tenant` restores, compares and always drops the scratch database.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from railzway.admin.into_tenant import connect_tenant
from railzway.lifecycle.backup import ServerTools
from railzway.lifecycle.backup_store import BackupStore, StoreError
from railzway.lifecycle.restore import (
    APPLICATION,
    MAINTENANCE_DB,
    RestoreFailed,
    drop_database,
    newest_backup,
    restore_into,
)
from railzway.registry import naming

SCRATCH_PREFIX = "railzway_verify_"

_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY 1, 2
"""

_SCHEMA = """
SELECT 'schema ' || n.nspname FROM pg_namespace n
WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
UNION ALL
SELECT format('relation %s.%s (%s) column %s %s%s', n.nspname, c.relname, c.relkind, a.attname,
              format_type(a.atttypid, a.atttypmod), CASE WHEN a.attnotnull THEN ' not null' ELSE '' END)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
UNION ALL
SELECT format('sequence %s.%s', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
UNION ALL
SELECT format('index %s', pg_get_indexdef(i.indexrelid))
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
UNION ALL
SELECT format('constraint %s.%s %s', n.nspname, co.conname, pg_get_constraintdef(co.oid))
FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace
WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
UNION ALL
SELECT format('function %s.%s(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
"""


@dataclass(frozen=True)
class Shape:
    """What a verify compares: every user table's row count, and the schema as a set of lines."""

    row_counts: dict[str, int]
    schema: frozenset[str]


def read_shape(conn: psycopg.Connection) -> Shape:
    """Row counts and schema of the connected database, in one REPEATABLE READ snapshot.

    The admin reads a hostile database here: only catalogue functions (schema-qualified by the pinned
    search path) and `count(*)` on plain tables run, which call no tenant code.
    """
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        tables = conn.execute(_TABLES).fetchall()
        counts = {}
        for schema, table in tables:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            ).fetchone()
            counts[f"{schema}.{table}"] = int(row[0]) if row else 0
        lines = frozenset(str(r[0]) for r in conn.execute(_SCHEMA).fetchall())
    return Shape(counts, lines)


def differences(live: Shape, restored: Shape, limit: int = 5) -> list[str]:
    """What differs between the live database and the restored backup, a line each (pure)."""
    found = []
    for table in sorted(set(live.row_counts) | set(restored.row_counts)):
        a, b = live.row_counts.get(table), restored.row_counts.get(table)
        if a != b:
            found.append(f"table {table}: live {_count(a)}, restored {_count(b)}")
    missing = sorted(live.schema - restored.schema)
    extra = sorted(restored.schema - live.schema)
    found.extend(f"schema: live has {line}, the backup does not" for line in missing[:limit])
    found.extend(f"schema: the backup has {line}, live does not" for line in extra[:limit])
    if len(missing) + len(extra) > 2 * limit:
        found.append(f"schema: {len(missing) + len(extra)} differences in all")
    return found


@dataclass(frozen=True)
class Verified:
    org_id: int
    backup: str | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.backup is not None and not self.problems


def verify_tenant(admin_url: str, store: BackupStore, tools: ServerTools, org_id: int, region: str) -> Verified:
    """Restore the tenant's newest backup into a scratch database, compare it with the live one, drop it."""
    try:
        backup = newest_backup(store, org_id, region)
    except (RestoreFailed, StoreError) as e:
        return Verified(org_id, None, [str(e)])
    scratch = f"{SCRATCH_PREFIX}{org_id}_{secrets.token_hex(4)}"
    url = store.url_of(backup.key)
    try:
        restore_into(admin_url, store, tools, backup.key, scratch)
    except (RestoreFailed, StoreError) as e:
        return Verified(org_id, url, [str(e)])
    try:
        with connect_tenant(admin_url, naming.database_name(org_id), APPLICATION) as live_conn:
            live = read_shape(live_conn)
        with connect_tenant(admin_url, scratch, APPLICATION) as restored_conn:
            restored = read_shape(restored_conn)
        return Verified(org_id, url, differences(live, restored))
    except psycopg.Error as e:
        return Verified(org_id, url, [f"cannot compare: {' '.join(str(e).split())[:300]}"])
    finally:
        with connect_tenant(admin_url, MAINTENANCE_DB, APPLICATION) as conn:
            drop_database(conn, scratch)


def _count(value: int | None) -> str:
    return "has no such table" if value is None else f"{value} rows"
