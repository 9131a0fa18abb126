"""Restore a backup into a new database, and prove backups usable by restoring and comparing them.

A restore never touches the live database: it creates `NEW_DB`, owned by the non-superuser role
`railzway_restorer` (NOLOGIN) with PUBLIC revoked, and runs pg_restore with `--role` so every statement of
the archive — the tenant's own DDL, index expressions, defaults — executes as that role, never as the
superuser. The archive's SHA-256 is checked against its manifest while it streams; a mismatch or any
pg_restore error drops the new database again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from railzway import naming
from railzway.lifecycle import pgtools
from railzway.lifecycle.admin import connect_tenant, tenant_conninfo
from railzway.lifecycle.backup import ServerTools
from railzway.lifecycle.manifest import Manifest
from railzway.lifecycle.store import BackupStore, StoredBackup, StoreError, manifest_key

APPLICATION = "railzway-restore"
RESTORE_ROLE = "railzway_restorer"
SCRATCH_PREFIX = "railzway_verify_"
MAINTENANCE_DB = "postgres"


class RestoreFailed(Exception):
    """The restore could not be done or did not give a sound database; one line for the operator."""


def newest_backup(store: BackupStore, org_id: int, region: str | None, at: dt.datetime | None = None) -> StoredBackup:
    """The tenant's newest backup with a manifest (taken at or before `at` when given)."""
    prefix = f"{region}/{org_id}/" if region else ""
    found = [
        b
        for b in store.backups(prefix)
        if b.org_id == org_id and (at is None or b.taken_at <= at) and _has_manifest(store, b.key)
    ]
    if not found:
        when = f" taken at or before {at.isoformat()}" if at else ""
        raise RestoreFailed(f"org {org_id} has no finished backup{when} in {store.url}")
    return found[-1]


def manifest_of(store: BackupStore, dump: str) -> Manifest:
    try:
        return Manifest.from_json(store.read_bytes(manifest_key(dump)))
    except StoreError as e:
        raise RestoreFailed(f"{e}: a dump without its manifest is an unfinished backup") from None
    except ValueError as e:
        raise RestoreFailed(f"{store.url_of(manifest_key(dump))} is not a backup manifest: {e}") from None


def restore_into(admin_url: str, store: BackupStore, tools: ServerTools, dump: str, new_db: str) -> Manifest:
    """Create `new_db` and restore the backup `dump` into it; on any failure the new database is dropped."""
    if new_db.startswith(naming.DATABASE_PREFIX):
        raise RestoreFailed(
            f"--into {new_db}: names starting with {naming.DATABASE_PREFIX} are tenant databases; "
            "a restore never writes over a live tenant, choose another name"
        )
    manifest = manifest_of(store, dump)
    with connect_tenant(admin_url, MAINTENANCE_DB, APPLICATION) as conn:
        _create_database(conn, new_db)
        try:
            _restore_stream(admin_url, store, tools, dump, new_db, manifest)
        except BaseException:
            _drop_database(conn, new_db)
            raise
    return manifest


def _restore_stream(
    admin_url: str, store: BackupStore, tools: ServerTools, dump: str, new_db: str, manifest: Manifest
) -> None:
    digest = hashlib.sha256()

    def hashed() -> Iterator[bytes]:
        for chunk in store.chunks(dump):
            digest.update(chunk)
            yield chunk

    conninfo, env = tenant_conninfo(admin_url, new_db)
    try:
        pgtools.restore_from(
            tools.pg_restore,
            conninfo,
            env,
            hashed(),
            ["--no-owner", "--no-privileges", f"--role={RESTORE_ROLE}", "--exit-on-error", "--single-transaction"],
        )
    except pgtools.ToolError as e:
        raise RestoreFailed(f"restoring {store.url_of(dump)}: {e}") from None
    except StoreError as e:
        raise RestoreFailed(str(e)) from None
    if digest.hexdigest() != manifest.sha256:
        raise RestoreFailed(
            f"{store.url_of(dump)}: SHA-256 {digest.hexdigest()} does not match its manifest's {manifest.sha256}"
        )


def _create_database(conn: psycopg.Connection, name: str) -> None:
    role = sql.Identifier(RESTORE_ROLE)
    try:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (RESTORE_ROLE,)).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("CREATE ROLE {} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS").format(
                    role
                )
            )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name), role)
        )
    except psycopg.errors.DuplicateDatabase:
        raise RestoreFailed(f"--into {name}: the database already exists; a restore only creates new ones") from None
    except psycopg.errors.DuplicateObject:
        pass  # another restore created the role first
    conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))


def _drop_database(conn: psycopg.Connection, name: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _has_manifest(store: BackupStore, dump: str) -> bool:
    return store.exists(manifest_key(dump))


# --- verify -------------------------------------------------------------------------------------------

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
            _drop_database(conn, scratch)


def _count(value: int | None) -> str:
    return "has no such table" if value is None else f"{value} rows"
