"""The post-deploy sync: project the `tenants` stack output onto the Cloud DB's `instances` table.

Pulumi state is the truth; the table is a projection that running the sync again always rebuilds. One
transaction per sync, so a sync killed at any moment leaves all of it or none of it:

1. validate every tenant (nothing is read or written when one is malformed);
2. read the current rows and decide per tenant: new, changed, or unchanged. A password is unchanged when
   its HMAC fingerprint under the row's own key matches, so a fresh nonce is not a change and a key
   added to the front of the ring does not rewrite every row (that is `rekey`'s job);
3. COPY only the new and changed rows into a temporary table (a few rows: a VALUES list) and apply them
   with one `INSERT ... ON CONFLICT (org_id) DO UPDATE`. A sync with nothing to change writes nothing.

Column mapping (the seed's `instances` table plus ours): desired_version and current_version both take the
deployed `version` (after `pulumi up` the stack runs what it declares); status takes the tenant's status
(`running`, `stopped`, `terminated`: the seed's own words for these states; its transitional states are
replaced by the settled one); compute_engine is `nomad` when the tenant has a Nomad job, NULL otherwise;
subscription_id and created_at are never touched by an update. Rows of tenants absent from the outputs
are kept and reported.

A part of a stack (`partial=True`: one tenant's row from a resource hook of `pulumi up`, the tenants of a
targeted update) goes through the same validation, comparison, encryption and upsert, but does not hold
the table still: it takes the writers' lock shared and one lock per row it writes, so hundreds of them run
side by side, while a full sync or a rekey (the lock exclusive) still sees a table nobody else writes.
It reads only its own rows, and reports no absent tenants (it does not know the rest of the stack).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import psycopg

from railzway.clouddb.crypto import KeyRing
from railzway.clouddb.migrate import require_current
from railzway.clouddb.outputs import TenantOutput, parse_outputs

log = logging.getLogger(__name__)

# Serializes the writers of credentials (sync, rekey) so each one's view of the table stays true; partial
# writers hold it shared, plus a per-row lock keyed by `_ROW_LOCK` and the org id.
WRITE_LOCK = zlib.crc32(b"railzway-cloud instances writers")
_ROW_LOCK = "railzway-cloud instances row "

COMPUTE_ENGINE_NOMAD = "nomad"

# The columns a sync owns, in the order of `_desired` (after org_id), with their types for the binary
# COPY into the temporary table; the password columns follow.
_STATE_COLUMNS = {
    "nomad_job_id": "text",
    "desired_version": "text",
    "current_version": "text",
    "status": "text",
    "tier": "text",
    "compute_engine": "text",
    "db_host": "text",
    "db_port": "integer",
    "db_name": "text",
    "db_user": "text",
    "region": "text",
}
_INCOMING = {
    "org_id": "bigint",
    **_STATE_COLUMNS,
    "db_password": "text",
    "db_password_key_id": "text",
    "db_password_fingerprint": "text",
    "source_stack": "text",
}
_ALL_COLUMNS = tuple(_INCOMING)


class Progress(Protocol):
    """Told how far a long sync got; the CLI draws a bar on stderr with it."""

    def __call__(self, phase: str, done: int, total: int) -> None: ...


@dataclass(frozen=True)
class SyncSummary:
    """What one sync did. `absent` are org ids kept in the table although the outputs do not list them."""

    inserted: int
    updated: int
    unchanged: int
    absent: tuple[int, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated)

    def text(self, show_absent: int = 20) -> str:
        total = self.inserted + self.updated + self.unchanged
        line = (
            f"synced {total} tenant{'s' * (total != 1)}: {self.inserted} inserted, {self.updated} updated, "
            f"{self.unchanged} unchanged, {len(self.absent)} absent"
        )
        if self.absent:
            shown = ", ".join(str(o) for o in self.absent[:show_absent])
            more = f" and {len(self.absent) - show_absent} more" if len(self.absent) > show_absent else ""
            line += f"\nabsent from the outputs (kept, never deleted): {shown}{more}"
        return line


def sync(
    conn: psycopg.Connection,
    outputs: Mapping[str, object],
    keys: KeyRing,
    *,
    stack: str | None = None,
    progress: Progress | None = None,
) -> SyncSummary:
    """Validate a stack's outputs (`{"tenants": {...}}`) and upsert them; see `sync_tenants`.

    Raises `OutputsError` naming every malformed org and field before touching the database.
    """
    return sync_tenants(conn, parse_outputs(outputs), keys, stack=stack, progress=progress)


def sync_tenants(
    conn: psycopg.Connection,
    tenants: Sequence[TenantOutput],
    keys: KeyRing,
    *,
    stack: str | None = None,
    progress: Progress | None = None,
    partial: bool = False,
    lock_timeout_ms: int | None = None,
) -> SyncSummary:
    """Upsert one row per tenant in one transaction (a savepoint if the caller has one open).

    `stack` labels the rows with the stack they came from; absent tenants are then only the rows that
    stack synced before. Without it, every row the outputs do not list is reported absent.
    `partial`: the tenants are only a part of the stack (see the module docstring). `lock_timeout_ms`
    bounds the wait for the locks (a writer stuck elsewhere fails this one instead of hanging it).
    """
    report = progress or _silent
    total = len(tenants)
    with conn.transaction():
        require_current(conn)
        conn.execute("SET LOCAL TIME ZONE 'UTC'")  # the seed's timestamp columns hold UTC wall time
        if lock_timeout_ms is not None:
            conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        if partial:
            org_ids = sorted({t.org_id for t in tenants})  # one order for every writer: no deadlock
            conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (WRITE_LOCK,))
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s || org_id::text, 0)) "
                "FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(org_id, n) ORDER BY n",
                (_ROW_LOCK, org_ids),
            )
            current = _current_rows(conn, org_ids)
        else:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            current = _current_rows(conn)
        changed: list[tuple[TenantOutput, tuple[object, ...]]] = []
        for done, tenant in enumerate(tenants, start=1):
            desired = _desired(tenant)
            row = current.get(tenant.org_id)
            if row is None or not _same(row, desired, tenant.db_password, tenant.org_id, keys, stack):
                changed.append((tenant, desired))
            if done % 1000 == 0 or done == total:
                report("checking", done, total)
        unchanged = total - len(changed)
        inserted = updated = 0
        if changed:
            report("writing", 0, len(changed))
            _upsert(conn, _sealed_rows(changed, keys, stack), len(changed))
            # Under the write lock (partial: the rows' locks), `current` is what the table held: a row it lacked
            # was inserted.
            inserted = sum(1 for tenant, _ in changed if tenant.org_id not in current)
            updated = len(changed) - inserted
            report("writing", len(changed), len(changed))
        listed = {t.org_id for t in tenants}
        absent = tuple(
            sorted(
                org
                for org, row in current.items()
                if not partial and org not in listed and (stack is None or row[-1] == stack)
            )
        )
    summary = SyncSummary(inserted, updated, unchanged, absent)
    log.info("sync: %d inserted, %d updated, %d unchanged, %d absent", inserted, updated, unchanged, len(absent))
    return summary


def _desired(tenant: TenantOutput) -> tuple[object, ...]:
    return (
        tenant.nomad_job_id,
        tenant.version,
        tenant.version,
        tenant.status,
        tenant.tier,
        COMPUTE_ENGINE_NOMAD if tenant.nomad_job_id is not None else None,
        tenant.db_host,
        tenant.db_port,
        tenant.db_name,
        tenant.db_user,
        tenant.region,
    )


def _current_rows(conn: psycopg.Connection, org_ids: Sequence[int] | None = None) -> dict[int, tuple[object, ...]]:
    """org_id -> (state columns..., key id, fingerprint, source stack), of every row or of `org_ids`."""
    columns = ", ".join((*_STATE_COLUMNS, "db_password_key_id", "db_password_fingerprint", "source_stack"))
    if org_ids is None:
        rows = conn.execute(f"SELECT org_id, {columns} FROM instances").fetchall()
    else:
        rows = conn.execute(
            f"SELECT org_id, {columns} FROM instances WHERE org_id = ANY(%s::bigint[])", (list(org_ids),)
        ).fetchall()
    return {int(row[0]): tuple(row[1:]) for row in rows}


def _same(
    row: tuple[object, ...],
    desired: tuple[object, ...],
    password: str,
    org_id: int,
    keys: KeyRing,
    stack: str | None,
) -> bool:
    state, key_id, fingerprint, source_stack = row[:-3], row[-3], row[-2], row[-1]
    if state != desired or (stack is not None and source_stack != stack):
        return False
    # A row without a key id holds a seed-era plain-text password: never "unchanged", so it gets encrypted.
    return keys.matches(org_id, password, key_id if isinstance(key_id, str) else None, _str_or_none(fingerprint))


def _sealed_rows(
    changed: Sequence[tuple[TenantOutput, tuple[object, ...]]], keys: KeyRing, stack: str | None
) -> Iterator[tuple[object, ...]]:
    """The rows to write, sealed a chunk at a time: the server parses one chunk while the next is sealed."""
    for start in range(0, len(changed), _SEAL_CHUNK):
        chunk = changed[start : start + _SEAL_CHUNK]
        sealed = keys.seal_many([(tenant.org_id, tenant.db_password) for tenant, _ in chunk])
        for (tenant, desired), seal in zip(chunk, sealed, strict=True):
            yield (tenant.org_id, *desired, *seal, stack)


_SEAL_CHUNK = 1000


def _upsert(conn: psycopg.Connection, writes: Iterable[tuple[object, ...]], count: int) -> None:
    """Apply the rows in one statement: from a COPY into a temporary table, or for a few rows (a hook's one
    row) from a VALUES list, which saves creating the table and the COPY's round trips."""
    columns = ", ".join(_ALL_COLUMNS)
    if count <= _VALUES_MAX:
        rows = list(writes)
        row = "(" + ", ".join(f"%s::{kind}" for kind in _INCOMING.values()) + ")"
        source = f"(VALUES {', '.join([row] * len(rows))}) AS railzway_sync_incoming ({columns})"
        conn.execute(_upsert_statement(source), [value for values in rows for value in values])
        return
    conn.execute(
        "CREATE TEMPORARY TABLE railzway_sync_incoming ("
        + ", ".join(f"{name} {kind}" for name, kind in _INCOMING.items())
        + ") ON COMMIT DROP"
    )
    with conn.cursor() as cur:
        # Binary: neither side formats or parses 16 x 10,000 text fields.
        with cur.copy(f"COPY railzway_sync_incoming ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(_INCOMING.values()))
            for values in writes:
                copy.write_row(values)
        cur.execute(_upsert_statement("railzway_sync_incoming"))


_VALUES_MAX = 20


def _upsert_statement(source: str) -> str:
    """The one upsert of the sync, from `source` (a relation with the `_INCOMING` columns)."""
    columns = ", ".join(_ALL_COLUMNS)
    assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in _ALL_COLUMNS[1:-1])
    return f"""
        INSERT INTO instances AS cur ({columns}, created_at, updated_at)
        SELECT {columns}, now(), now() FROM {source}
        ON CONFLICT (org_id) DO UPDATE SET {assignments},
            source_stack = COALESCE(EXCLUDED.source_stack, cur.source_stack),
            updated_at = EXCLUDED.updated_at
        """


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _silent(phase: str, done: int, total: int) -> None:
    pass
