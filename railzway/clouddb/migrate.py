"""Bring the Cloud DB schema up to date: a small runner for golang-migrate's file layout and bookkeeping.

Written by hand only because no maintained Python library speaks golang-migrate's format, and the seed's
Go control plane left Cloud DBs at version 4 of exactly that format. What we keep from golang-migrate:
`NNNNNN_name.up.sql` files, the one-row `schema_migrations(version bigint, dirty boolean)` table, and the
advisory lock id its PostgreSQL driver takes, so our runner and a leftover Go migrator also serialize.
What we add: each migration runs in a transaction, so a failure rolls its changes back; the dirty flag is
committed before it and cleared in the same transaction as its changes, so an interrupted or failed
migration leaves `dirty = true` and every later run refuses until an operator says the schema is sound.

`migrate()` applies a list of schema steps under one lock: the Cloud DB's own migrations first, then
whatever other packages contribute (a queue library's schema, for instance). A step is anything with a
`name` and an idempotent `apply(conn) -> list[str]`; `MigrationSource` (another directory of golang-migrate
files with its own version table) and `FunctionStep` (a callable) are the two kinds provided.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Protocol

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

_FILE_RE = re.compile(r"(?P<version>[0-9]+)_(?P<name>[A-Za-z0-9_.-]+)\.(?P<direction>up|down)\.sql")

# golang-migrate's database.GenerateAdvisoryLockId: crc32(schema NUL table NUL database) * salt, as uint32.
_GOLANG_MIGRATE_LOCK_SALT = 1486364155


class MigrationError(Exception):
    """The schema cannot be brought up to date; the message says why and what to do."""


class DirtyDatabase(MigrationError):
    """A migration failed or was interrupted earlier: nothing runs until an operator forces a version."""

    def __init__(self, source: MigrationSource, version: int) -> None:
        migration = source.find(version)
        label = f"{version:06d}_{migration.name}" if migration else f"{version:06d}"
        force_to = _version_arg(source.previous(version))
        super().__init__(
            f"{source.name}: the schema is dirty at version {version} ({label} failed or was interrupted); "
            f"nothing was migrated. Our migrations run in a transaction, so its changes were rolled back, but "
            f"a Go migrator's may not have been: check table `{source.table}` and the objects {label} creates, "
            f"repair by hand if needed, then run `python -m railzway migrate --force {force_to} --source {source.name}` "
            "and migrate again"
        )
        self.version = version


class SchemaOutOfDate(MigrationError):
    """The Cloud DB is not at the version this program writes to."""


@dataclass(frozen=True)
class Migration:
    """One `NNNNNN_name.up.sql` file."""

    version: int
    name: str
    up: Traversable

    @property
    def label(self) -> str:
        return f"{self.version:06d}_{self.name}"


class SchemaStep(Protocol):
    """Something `migrate` brings up to date under its lock. `apply` must be safe to run again."""

    @property
    def name(self) -> str: ...

    def apply(self, conn: psycopg.Connection) -> list[str]:
        """Bring this part of the schema up to date; returns what it applied (empty when nothing)."""
        ...


@dataclass(frozen=True)
class MigrationSource:
    """A directory of golang-migrate files and the table that records how far a database got."""

    name: str
    files: Traversable
    table: str = "schema_migrations"

    def migrations(self) -> list[Migration]:
        """The up migrations in version order; a malformed directory is an error, not a skipped file."""
        found: dict[int, Migration] = {}
        for entry in self.files.iterdir():
            m = _FILE_RE.fullmatch(entry.name)
            if m is None:
                if entry.name.endswith(".sql"):
                    raise MigrationError(f"{self.name}: {entry.name} is not named NNNNNN_name.up.sql or .down.sql")
                continue
            if m["direction"] != "up":
                continue
            version = int(m["version"])
            if version in found:
                raise MigrationError(f"{self.name}: two migrations have version {version}")
            found[version] = Migration(version, m["name"], entry)
        return [found[v] for v in sorted(found)]

    def find(self, version: int) -> Migration | None:
        return next((m for m in self.migrations() if m.version == version), None)

    def previous(self, version: int) -> int | None:
        earlier = [m.version for m in self.migrations() if m.version < version]
        return earlier[-1] if earlier else None

    def latest(self) -> int | None:
        migrations = self.migrations()
        return migrations[-1].version if migrations else None

    def status(self, conn: psycopg.Connection) -> tuple[int | None, bool]:
        """(version, dirty) as recorded; (None, False) for a database this source never touched."""
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (self.table,)).fetchone()
        if not exists or not exists[0]:
            return None, False
        row = conn.execute(
            sql.SQL("SELECT version, dirty FROM {} LIMIT 1").format(sql.Identifier(self.table))
        ).fetchone()
        return (None, False) if row is None else (int(row[0]), bool(row[1]))

    def apply(self, conn: psycopg.Connection, target: int | None = None) -> list[str]:
        """Run every migration after the recorded version (up to `target`); returns their labels.

        The caller holds the migrate lock and `conn` is in autocommit mode (see `migrate`).
        """
        migrations = self.migrations()
        self._ensure_table(conn)
        version, dirty = self.status(conn)
        if dirty and version is not None:
            raise DirtyDatabase(self, version)
        latest = migrations[-1].version if migrations else None
        if version is not None and (latest is None or version > latest):
            raise MigrationError(
                f"{self.name}: the database is at version {version}, newer than this program's latest "
                f"({latest}): run a newer railzway, never an older one, against it"
            )
        if version is not None and not any(m.version == version for m in migrations):
            raise MigrationError(f"{self.name}: the database is at version {version}, which no migration file has")
        applied: list[str] = []
        for migration in migrations:
            if (version is not None and migration.version <= version) or (
                target is not None and migration.version > target
            ):
                continue
            self._run(conn, migration)
            applied.append(migration.label)
        return applied

    def force(self, conn: psycopg.Connection, version: int | None) -> None:
        """Record `version` as applied and clean (None: nothing applied), as golang-migrate's `force` does."""
        if version is not None and self.find(version) is None:
            raise MigrationError(f"{self.name}: no migration has version {version}")
        self._ensure_table(conn)
        with conn.transaction():
            self._set_version(conn, version, dirty=False)

    def _run(self, conn: psycopg.Connection, migration: Migration) -> None:
        log.info("%s: applying %s", self.name, migration.label)
        with conn.transaction():
            self._set_version(conn, migration.version, dirty=True)
        try:
            with conn.transaction():
                conn.execute(migration.up.read_text(encoding="utf-8"))
                self._set_version(conn, migration.version, dirty=False)
        except psycopg.Error as e:
            reason = e.diag.message_primary or str(e).splitlines()[0]
            raise MigrationError(
                f"{self.name}: {migration.label} failed: {reason}. Its changes were rolled back and the schema "
                f"is marked dirty at version {migration.version}: fix the cause, then run "
                f"`python -m railzway migrate --force {_version_arg(self.previous(migration.version))} --source {self.name}` "
                "and migrate again"
            ) from None

    def _ensure_table(self, conn: psycopg.Connection) -> None:
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)"
            ).format(sql.Identifier(self.table))
        )

    def _set_version(self, conn: psycopg.Connection, version: int | None, dirty: bool) -> None:
        table = sql.Identifier(self.table)
        conn.execute(sql.SQL("TRUNCATE {}").format(table))
        if version is not None:
            conn.execute(sql.SQL("INSERT INTO {} (version, dirty) VALUES (%s, %s)").format(table), (version, dirty))


@dataclass(frozen=True)
class FunctionStep:
    """A schema step that is a function: it must check for itself what is already there."""

    name: str
    function: Callable[[psycopg.Connection], list[str]]

    def apply(self, conn: psycopg.Connection) -> list[str]:
        return self.function(conn)


CLOUD_DB = MigrationSource("cloud-db", resources.files("railzway.clouddb.migrations"))
"""The Cloud DB's own schema: the `instances` table."""


def migrate(conn: psycopg.Connection, steps: Sequence[SchemaStep] = (CLOUD_DB,)) -> dict[str, list[str]]:
    """Apply every step in order under one advisory lock; returns what each step applied.

    Safe to run twice and from several processes at once: the second migrator waits for the lock, then
    finds nothing to do. `conn` must be idle; it runs in autocommit mode for the duration (each migration
    is its own transaction) and is restored afterwards.
    """
    result: dict[str, list[str]] = {}
    with _autocommit(conn), _migrate_lock(conn):
        for step in steps:
            result[step.name] = step.apply(conn)
    return result


def migrate_to(conn: psycopg.Connection, version: int, source: MigrationSource = CLOUD_DB) -> list[str]:
    """Apply `source`'s migrations up to and including `version` only (tests and staged upgrades)."""
    with _autocommit(conn), _migrate_lock(conn):
        return source.apply(conn, target=version)


def status(conn: psycopg.Connection, source: MigrationSource = CLOUD_DB) -> tuple[int | None, bool]:
    """(version, dirty) of `source` in this database; version None when it was never migrated."""
    return source.status(conn)


def force(conn: psycopg.Connection, version: int | None, source: MigrationSource = CLOUD_DB) -> None:
    """Mark `version` applied and clean after an operator repaired a dirty schema (golang-migrate's force)."""
    with _autocommit(conn), _migrate_lock(conn):
        source.force(conn, version)


def require_current(conn: psycopg.Connection, source: MigrationSource = CLOUD_DB) -> None:
    """Refuse to write rows into a schema this program does not know the shape of."""
    version, dirty = source.status(conn)
    latest = source.latest()
    if dirty or version != latest:
        state = (
            "has never been migrated" if version is None else f"is at version {version}{' (dirty)' if dirty else ''}"
        )
        raise SchemaOutOfDate(
            f"the Cloud DB schema {state}; this program needs version {latest}: run `python -m railzway migrate`"
        )


def lock_id(database: str, schema: str, table: str = "schema_migrations") -> int:
    """The advisory lock key golang-migrate's PostgreSQL driver uses for the same database and table."""
    checksum = zlib.crc32("\x00".join((schema, table, database)).encode())
    return (checksum * _GOLANG_MIGRATE_LOCK_SALT) % 2**32


def _version_arg(version: int | None) -> str:
    return "none" if version is None else str(version)


@contextmanager
def _autocommit(conn: psycopg.Connection) -> Iterator[None]:
    previous = conn.autocommit
    if not previous:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise MigrationError("migrate needs an idle connection: commit or roll back the open transaction first")
        conn.autocommit = True
    try:
        yield
    finally:
        if not previous:
            conn.autocommit = False


@contextmanager
def _migrate_lock(conn: psycopg.Connection) -> Iterator[None]:
    row = conn.execute("SELECT current_database(), current_schema()").fetchone()
    assert row is not None
    key = lock_id(row[0], row[1] or "public")
    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
