"""The `railzway_requests` table: what the API shows about each request, and its state machine.

    queued --claim--> running --finish--> succeeded | failed
       ^                 |
       +----requeue------+   (transient failure with attempts left, shutdown, or a dead worker)

Every transition is one UPDATE guarded by the state it leaves (and, for a running request, by the job
that holds it), plus a row in `railzway_request_events`, in the caller's transaction. A job that lost its
requests (its worker was taken for dead and the requests were handed to another job) therefore changes
nothing when it finishes late, and no request reaches a final state twice.

Callers serialize per stack with `lock_stack` (and per org with `lock_org`) inside their transaction;
the order is always org, then new-tenant placement, then stack.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

FINAL_STATES = ("succeeded", "failed")
_COLUMNS = (
    "id, org_id, action, params, stack, stack_shards, state, idempotency_key, fingerprint, summary, reason, attempts, job_id, "
    "not_before, created_at, started_at, finished_at, updated_at"
)


@dataclass(frozen=True)
class RequestRecord:
    id: uuid.UUID
    org_id: int | None
    """None for a reconcile request, which applies its whole stack."""
    action: str
    params: dict[str, Any]
    stack: str
    stack_shards: list[str] | None
    state: str
    idempotency_key: str | None
    fingerprint: str
    summary: dict[str, Any]
    reason: str | None
    attempts: int
    job_id: int | None
    not_before: dt.datetime
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    updated_at: dt.datetime


@dataclass(frozen=True)
class RequestEvent:
    state: str
    attempt: int
    note: str | None
    at: dt.datetime


async def lock_org(conn: AsyncConnection[Any], org_id: int) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('railzway-org:' || %s::text, 0))", (org_id,))


async def lock_placement(conn: AsyncConnection[Any]) -> None:
    """Serializes new tenants, so two sign-ups at once do not both pick the same least-loaded shard."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('railzway-placement', 0))")


async def lock_stack(conn: AsyncConnection[Any], stack: str) -> None:
    """Serializes everything that decides which requests of a stack a job holds (accept, claim, release)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('railzway-stack:' || %s, 0))", (stack,))


async def insert(
    conn: AsyncConnection[Any],
    *,
    request_id: uuid.UUID,
    org_id: int | None,
    action: str,
    params: dict[str, Any],
    stack: str,
    stack_shards: list[str] | None,
    idempotency_key: str | None,
    fingerprint: str,
    summary: dict[str, Any],
) -> RequestRecord:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            INSERT INTO railzway_requests
                (id, org_id, action, params, stack, stack_shards, idempotency_key, fingerprint, summary)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            RETURNING {_COLUMNS}
            """,
            (
                request_id,
                org_id,
                action,
                Jsonb(params),
                stack,
                None if stack_shards is None else Jsonb(stack_shards),
                idempotency_key,
                fingerprint,
                Jsonb(summary),
            ),
        )
        row = await cur.fetchone()
    assert row is not None
    await _event(conn, [request_id], "queued", "accepted")
    return RequestRecord(**row)


async def by_idempotency_key(conn: AsyncConnection[Any], key: str) -> RequestRecord | None:
    return await _one(conn, "idempotency_key = %s", (key,))


async def get(conn: AsyncConnection[Any], request_id: uuid.UUID) -> RequestRecord | None:
    return await _one(conn, "id = %s", (request_id,))


async def events(conn: AsyncConnection[Any], request_id: uuid.UUID) -> list[RequestEvent]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT state, attempt, note, at FROM railzway_request_events WHERE request_id = %s ORDER BY id",
            (request_id,),
        )
        return [RequestEvent(**row) for row in await cur.fetchall()]


async def latest_for_org(conn: AsyncConnection[Any], org_id: int, limit: int = 10) -> list[RequestRecord]:
    return await _many(conn, "org_id = %s ORDER BY created_at DESC, id LIMIT %s", (org_id, limit))


async def claim(conn: AsyncConnection[Any], stack: str, job_id: int) -> list[RequestRecord]:
    """Take every queued request of the stack that is due: the batch one `up` applies. Hold `lock_stack`."""
    rows = await _many(
        conn,
        "stack = %s AND state = 'queued' AND not_before <= now() ORDER BY created_at, id FOR UPDATE",
        (stack,),
    )
    if not rows:
        return []
    ids = [r.id for r in rows]
    claimed = await _update(
        conn,
        "state = 'running', job_id = %s, attempts = attempts + 1, started_at = COALESCE(started_at, now())",
        (job_id,),
        "id = ANY(%s) AND state = 'queued'",
        (ids,),
    )
    await _event(conn, [r.id for r in claimed], "running", f"job {job_id}")
    return claimed


async def finish(
    conn: AsyncConnection[Any],
    ids: Sequence[uuid.UUID],
    job_id: int,
    state: str,
    *,
    summary: dict[str, Any] | None = None,
    reason: str | None = None,
) -> list[RequestRecord]:
    """Move the job's running requests to a final state; requests it no longer holds are left alone."""
    assert state in FINAL_STATES
    done = await _update(
        conn,
        "state = %s, finished_at = now(), reason = %s, summary = summary || %s",
        (state, reason, Jsonb(summary or {})),
        "id = ANY(%s) AND state = 'running' AND job_id = %s",
        (list(ids), job_id),
    )
    await _event(conn, [r.id for r in done], state, reason)
    return done


async def requeue(
    conn: AsyncConnection[Any],
    ids: Sequence[uuid.UUID],
    job_id: int,
    *,
    delay: dt.timedelta | None,
    note: str,
) -> list[RequestRecord]:
    """Put the job's running requests back in the queue, to run again after `delay` (database time)."""
    back = await _update(
        conn,
        # The note is the reason a caller sees while the request waits to be tried again.
        "state = 'queued', not_before = now() + %s, reason = %s",
        (delay or dt.timedelta(0), note),
        "id = ANY(%s) AND state = 'running' AND job_id = %s",
        (list(ids), job_id),
    )
    await _event(conn, [r.id for r in back], "queued", note)
    return back


async def held_by(conn: AsyncConnection[Any], job_id: int) -> list[RequestRecord]:
    """The requests a job is running (a dead worker's job leaves them here)."""
    return await _many(conn, "state = 'running' AND job_id = %s ORDER BY created_at, id FOR UPDATE", (job_id,))


async def has_active(conn: AsyncConnection[Any], stack: str) -> bool:
    """Whether a request of the stack is queued or running (its update will bring the stack forward)."""
    row = await (
        await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM railzway_requests WHERE stack = %s AND state IN ('queued', 'running'))",
            (stack,),
        )
    ).fetchone()
    return bool(row and row[0])


async def next_due(conn: AsyncConnection[Any], stack: str) -> dt.datetime | None:
    """When the stack's earliest queued request becomes due, or None when nothing is queued."""
    row = await (
        await conn.execute(
            "SELECT min(not_before) FROM railzway_requests WHERE stack = %s AND state = 'queued'", (stack,)
        )
    ).fetchone()
    return row[0] if row else None


async def queued_stacks(conn: AsyncConnection[Any]) -> list[str]:
    """Stacks with queued requests that are due."""
    rows = await (
        await conn.execute(
            "SELECT DISTINCT stack FROM railzway_requests WHERE state = 'queued' AND not_before <= now() ORDER BY stack"
        )
    ).fetchall()
    return [r[0] for r in rows]


async def _event(conn: AsyncConnection[Any], ids: Sequence[uuid.UUID], state: str, note: str | None) -> None:
    if not ids:
        return
    await conn.execute(
        """
        INSERT INTO railzway_request_events (request_id, state, attempt, note)
        SELECT id, %s, attempts, %s FROM railzway_requests WHERE id = ANY(%s) ORDER BY id
        """,
        (state, note, list(ids)),
    )


async def _one(conn: AsyncConnection[Any], where: str, params: tuple[Any, ...]) -> RequestRecord | None:
    rows = await _many(conn, where, params)
    return rows[0] if rows else None


async def _many(conn: AsyncConnection[Any], where: str, params: tuple[Any, ...]) -> list[RequestRecord]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM railzway_requests WHERE {where}", params)
        return [RequestRecord(**row) for row in await cur.fetchall()]


async def _update(
    conn: AsyncConnection[Any], assignments: str, values: tuple[Any, ...], where: str, params: tuple[Any, ...]
) -> list[RequestRecord]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"UPDATE railzway_requests SET {assignments}, updated_at = now() WHERE {where} RETURNING {_COLUMNS}",
            (*values, *params),
        )
        return [RequestRecord(**row) for row in await cur.fetchall()]
