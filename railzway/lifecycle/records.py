"""The Cloud DB's memory of the data life-cycle: every backup attempt, and each purged tenant's tombstone.

Plain SQL on a connection the caller opens (tables from migration 000008). No credential is ever written
here; a purge also clears the password columns of the tenant's instance row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import psycopg

SUCCEEDED = "succeeded"
FAILED = "failed"


@dataclass(frozen=True)
class BackupRecord:
    org_id: int
    region: str
    url: str
    started_at: dt.datetime
    finished_at: dt.datetime
    outcome: str
    size_bytes: int | None = None
    sha256: str | None = None
    reason: str | None = None
    final: bool = False


@dataclass(frozen=True)
class Tombstone:
    org_id: int
    region: str
    purged_at: dt.datetime
    final_backup_url: str | None
    final_backup_sha256: str | None


def record_backup(conn: psycopg.Connection, record: BackupRecord) -> None:
    with conn.transaction():
        conn.execute(
            """
            INSERT INTO tenant_backups
                (org_id, region, url, size_bytes, sha256, started_at, finished_at, outcome, reason, final)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            """,
            (
                record.org_id,
                record.region,
                record.url,
                record.size_bytes,
                record.sha256,
                record.started_at,
                record.finished_at,
                record.outcome,
                record.reason,
                record.final,
            ),
        )


def last_backups(conn: psycopg.Connection, org_ids: Collection[int]) -> dict[int, dt.datetime]:
    """Each org's newest successful backup time (orgs never backed up are absent)."""
    rows = conn.execute(
        """
        SELECT org_id, max(finished_at) FROM tenant_backups
        WHERE outcome = 'succeeded' AND org_id = ANY(%s) GROUP BY org_id
        """,
        (list(org_ids),),
    ).fetchall()
    return {int(org): finished for org, finished in rows}


def backups_of(conn: psycopg.Connection, org_id: int) -> list[BackupRecord]:
    rows = conn.execute(
        """
        SELECT org_id, region, url, started_at, finished_at, outcome, size_bytes, sha256, reason, final
        FROM tenant_backups WHERE org_id = %s ORDER BY finished_at, id
        """,
        (org_id,),
    ).fetchall()
    return [BackupRecord(*row) for row in rows]


def tombstone(conn: psycopg.Connection, org_id: int) -> Tombstone | None:
    row = conn.execute(
        "SELECT org_id, region, purged_at, final_backup_url, final_backup_sha256 FROM tenant_purges WHERE org_id = %s",
        (org_id,),
    ).fetchone()
    return Tombstone(*row) if row else None


def purged_org_ids(conn: psycopg.Connection) -> frozenset[int]:
    return frozenset(int(row[0]) for row in conn.execute("SELECT org_id FROM tenant_purges").fetchall())


def write_tombstone(conn: psycopg.Connection, org_id: int, region: str, url: str | None, sha256: str | None) -> None:
    """Mark the tenant purged: its tombstone, and its instance row (when it has one) without credentials."""
    with conn.transaction():
        conn.execute(
            """
            INSERT INTO tenant_purges (org_id, region, final_backup_url, final_backup_sha256)
            VALUES (%s, %s, %s, %s) ON CONFLICT (org_id) DO NOTHING
            """,
            (org_id, region, url, sha256),
        )
        conn.execute(
            """
            UPDATE instances
            SET status = 'purged', purged_at = now(), updated_at = now(),
                db_password = NULL, db_password_key_id = NULL, db_password_fingerprint = NULL
            WHERE org_id = %s
            """,
            (org_id,),
        )


def final_backup(conn: psycopg.Connection, org_id: int) -> BackupRecord | None:
    """The newest successful final backup of the org (a purge's), if one was recorded."""
    found = [r for r in backups_of(conn, org_id) if r.final and r.outcome == SUCCEEDED]
    return found[-1] if found else None
