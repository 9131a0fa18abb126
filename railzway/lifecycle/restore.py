"""Restore a backup into a new database: never over the live one, never as the superuser.

A restore never touches the live database: it creates `NEW_DB`, owned by the non-superuser role
`railzway_restorer` (NOLOGIN) with PUBLIC revoked, and runs pg_restore with `--role` so every statement of
the archive — the tenant's own DDL, index expressions, defaults — executes as that role, never as the
superuser. The archive's SHA-256 is checked against its manifest while it streams; a mismatch or any
pg_restore error drops the new database again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

import psycopg
from psycopg import sql

from railzway.admin.into_tenant import connect_tenant, tenant_conninfo
from railzway.lifecycle import pgtools
from railzway.lifecycle.backup import ServerTools
from railzway.lifecycle.backup_store import BackupStore, StoredBackup, StoreError, manifest_key
from railzway.lifecycle.manifest import Manifest
from railzway.registry import naming

APPLICATION = "railzway-restore"
RESTORE_ROLE = "railzway_restorer"
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
            drop_database(conn, new_db)
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


def drop_database(conn: psycopg.Connection, name: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _has_manifest(store: BackupStore, dump: str) -> bool:
    return store.exists(manifest_key(dump))
