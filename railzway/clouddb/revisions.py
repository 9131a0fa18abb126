"""Which registry commit each stack last applied: written after a successful `up` and its sync, read by
`fleet status`, `fleet up --changed-only` and the service's reconcile. Knows nothing of git or Pulumi."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import psycopg

from railzway.clouddb.migrate import require_current

_REVISION = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


@dataclass(frozen=True)
class StackRevision:
    stack: str
    revision: str
    applied_at: dt.datetime
    applied_by: str


def record_revision(conn: psycopg.Connection, stack: str, revision: str, applied_by: str) -> StackRevision:
    """Record that `stack` now runs the registry at `revision` (a full commit id), applied by `applied_by`."""
    if not _REVISION.match(revision):
        raise ValueError(f"revision must be a full git commit id, got {revision!r}")
    require_current(conn)
    with conn.transaction():
        row = conn.execute(
            """
            INSERT INTO stack_revisions (stack, revision, applied_at, applied_by) VALUES (%s, %s, now(), %s)
            ON CONFLICT (stack) DO UPDATE
                SET revision = EXCLUDED.revision, applied_at = EXCLUDED.applied_at, applied_by = EXCLUDED.applied_by
            RETURNING stack, revision, applied_at, applied_by
            """,
            (stack, revision, applied_by),
        ).fetchone()
    assert row is not None
    return StackRevision(*row)


def stack_revisions(conn: psycopg.Connection) -> dict[str, StackRevision]:
    """Every stack's recorded revision, by stack name."""
    rows = conn.execute("SELECT stack, revision, applied_at, applied_by FROM stack_revisions ORDER BY stack").fetchall()
    return {row[0]: StackRevision(*row) for row in rows}
