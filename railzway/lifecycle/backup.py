"""Back up tenant databases: pg_dump streamed into the backup store, a manifest beside it, one per tenant.

`server_tools` reads the server's version once per run and picks the matching pg_dump; `backup_tenant`
writes one dump and its manifest; `backup_tenants` runs a list of tenants, one failure never stopping
the others, and hands every attempt to a recorder (the Cloud DB) and an observer (the progress bar).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from railzway.admin.into_tenant import connect_tenant, tenant_conninfo
from railzway.lifecycle import pgtools
from railzway.lifecycle.backup_store import BackupStore, StoreError, dump_key, manifest_key
from railzway.lifecycle.manifest import Manifest
from railzway.lifecycle.records import FAILED, SUCCEEDED, BackupRecord
from railzway.lifecycle.retention import to_prune
from railzway.registry import naming

APPLICATION = "railzway-backup"


class BackupFailed(Exception):
    """One tenant's backup failed; the message is one line for the operator."""


@dataclass(frozen=True)
class ServerTools:
    """The server's version and the client programs of its major version."""

    version: str
    major: int
    pg_dump: Path
    pg_dump_version: str
    pg_restore: Path


def server_tools(admin_url: str, maintenance_db: str = "postgres") -> ServerTools:
    """Ask the server its version (over a pinned admin connection) and find pg_dump/pg_restore for it."""
    try:
        with connect_tenant(admin_url, maintenance_db, APPLICATION) as conn:
            row = conn.execute(
                "SELECT current_setting('server_version_num')::int, current_setting('server_version')"
            ).fetchone()
    except psycopg.Error as e:
        raise pgtools.ToolError(f"cannot ask the server its version: {' '.join(str(e).split())}") from None
    assert row is not None
    major = int(row[0]) // 10000
    pg_dump = pgtools.find_tool("pg_dump", major)
    return ServerTools(
        version=str(row[1]).split()[0],
        major=major,
        pg_dump=pg_dump,
        pg_dump_version=pgtools.tool_version(pg_dump),
        pg_restore=pgtools.find_tool("pg_restore", major),
    )


def backup_tenant(
    admin_url: str,
    store: BackupStore,
    tools: ServerTools,
    org_id: int,
    region: str,
    *,
    final: bool = False,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Manifest:
    """Dump the tenant's database into `<region>/<org_id>/<timestamp>.dump`, then write its manifest.

    The manifest is written last: a dump without one is a backup that did not finish, and nothing lists
    it as usable (retention still prunes it).
    """
    database = naming.database_name(org_id)
    started = clock()
    key = dump_key(region, org_id, started)
    conninfo, env = tenant_conninfo(admin_url, database)
    try:
        with store.writer(key) as out:
            streamed = pgtools.dump_to(tools.pg_dump, conninfo, env, out)
    except pgtools.ToolError as e:
        raise BackupFailed(str(e)) from None
    except StoreError as e:
        raise BackupFailed(str(e)) from None
    except Exception as e:  # the store's own I/O errors (obstore raises one type per backend)
        raise BackupFailed(f"writing {store.url_of(key)} failed: {' '.join(str(e).split())[:300]}") from None
    manifest = Manifest(
        org_id=org_id,
        region=region,
        database=database,
        dump=key,
        server_version=tools.version,
        pg_dump_version=tools.pg_dump_version,
        size_bytes=streamed.size_bytes,
        sha256=streamed.sha256,
        started_at=started,
        finished_at=clock(),
        final=final,
    )
    try:
        store.put_bytes(manifest_key(key), manifest.to_json())
    except Exception as e:  # without its manifest the dump is an unfinished backup: say so, for this tenant only
        raise BackupFailed(
            f"writing the manifest of {store.url_of(key)} failed: {' '.join(str(e).split())[:300]}"
        ) from None
    return manifest


@dataclass(frozen=True)
class Target:
    org_id: int
    region: str


@dataclass(frozen=True)
class Outcome:
    target: Target
    seconds: float
    manifest: Manifest | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.manifest is not None


def backup_tenants(
    admin_url: str,
    store: BackupStore,
    tools: ServerTools,
    targets: Sequence[Target],
    *,
    record: Callable[[BackupRecord], None] | None = None,
    observe: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Back up every target in order; each attempt is recorded and observed, failures included."""
    outcomes = []
    for target in targets:
        started_at = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        try:
            manifest = backup_tenant(admin_url, store, tools, target.org_id, target.region)
            outcome = Outcome(target, time.perf_counter() - started, manifest=manifest)
        except BackupFailed as e:
            outcome = Outcome(target, time.perf_counter() - started, error=str(e))
        if record is not None:
            record(record_of(store, outcome, started_at))
        if observe is not None:
            observe(outcome)
        outcomes.append(outcome)
    return outcomes


def record_of(store: BackupStore, outcome: Outcome, started_at: dt.datetime) -> BackupRecord:
    """What the Cloud DB keeps of an attempt: for a failure, the store prefix it was going to."""
    m = outcome.manifest
    if m is None:
        return BackupRecord(
            org_id=outcome.target.org_id,
            region=outcome.target.region,
            url=store.url_of(f"{outcome.target.region}/{outcome.target.org_id}/"),
            started_at=started_at,
            finished_at=dt.datetime.now(dt.UTC),
            outcome=FAILED,
            reason=outcome.error,
        )
    return BackupRecord(
        org_id=m.org_id,
        region=m.region,
        url=store.url_of(m.dump),
        started_at=m.started_at,
        finished_at=m.finished_at,
        outcome=SUCCEEDED,
        size_bytes=m.size_bytes,
        sha256=m.sha256,
        final=m.final,
    )


def apply_retention(store: BackupStore, targets: Sequence[Target], keep_daily: int, keep_weekly: int) -> int:
    """Prune each target's backups by GFS (`retention.to_prune`); a purge's final backup is never pruned.

    Returns how many backups were deleted (each dump with its manifest).
    """
    pruned = 0
    for target in targets:
        found = store.backups(f"{target.region}/{target.org_id}/")
        protected = {b.key for b in to_prune(found, keep_daily, keep_weekly) if _is_final(store, b.key)}
        for stale in to_prune(found, keep_daily, keep_weekly, protected):
            store.delete(manifest_key(stale.key))
            store.delete(stale.key)
            pruned += 1
    return pruned


def _is_final(store: BackupStore, dump: str) -> bool:
    """Whether the dump's manifest marks it a purge's final backup (an unfinished dump has no manifest)."""
    try:
        return Manifest.from_json(store.read_bytes(manifest_key(dump))).final
    except (StoreError, ValueError):
        return False
