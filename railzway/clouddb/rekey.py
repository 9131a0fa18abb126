"""Re-encrypt every stored password with the first key of `RAILZWAY_CREDENTIALS_KEYS`.

Rotating the encryption key: put a new key first, run `rekey`, then drop the old key once it reports
nothing left under it. Seed-era rows that still hold a plain-text password (no key id) are encrypted too.
One transaction: a row that does not decrypt aborts the whole rekey and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

from railzway.clouddb.crypto import DecryptionError, KeyRing
from railzway.clouddb.migrate import require_current
from railzway.clouddb.sync import WRITE_LOCK

log = logging.getLogger(__name__)


class RekeyError(ValueError):
    """Some stored passwords do not decrypt with the configured keys; `problems` names each org."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class RekeySummary:
    key_id: str
    reencrypted: int
    plaintext_encrypted: int
    already_current: int

    def text(self) -> str:
        return (
            f"rekey to key {self.key_id}: {self.reencrypted} re-encrypted, "
            f"{self.plaintext_encrypted} plain-text passwords encrypted, {self.already_current} already current"
        )


def rekey(conn: psycopg.Connection, keys: KeyRing) -> RekeySummary:
    """Seal every stored password under `keys.primary`, in one transaction."""
    primary = keys.primary
    with conn.transaction():
        require_current(conn)
        conn.execute("SET LOCAL TIME ZONE 'UTC'")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        rows = conn.execute(
            "SELECT org_id, db_password, db_password_key_id FROM instances "
            "WHERE db_password IS NOT NULL AND db_password <> '' AND db_password_key_id IS DISTINCT FROM %s "
            "ORDER BY org_id FOR UPDATE",
            (primary.key_id,),
        ).fetchall()
        current = conn.execute(
            "SELECT count(*) FROM instances WHERE db_password_key_id = %s", (primary.key_id,)
        ).fetchone()
        writes: list[tuple[int, str, str, str]] = []
        problems: list[str] = []
        plaintext = 0
        for org_id, stored, key_id in rows:
            if key_id is None:
                password, plaintext = stored, plaintext + 1
            else:
                try:
                    password = keys.decrypt(org_id, key_id, stored)
                except DecryptionError as e:
                    problems.append(str(e))
                    continue
            sealed = primary.seal(org_id, password)
            writes.append((org_id, sealed.ciphertext, sealed.key_id, sealed.fingerprint))
        if problems:
            raise RekeyError(problems)
        if writes:
            conn.execute(
                "CREATE TEMPORARY TABLE railzway_rekey (org_id bigint PRIMARY KEY, db_password text, "
                "db_password_key_id text, db_password_fingerprint text) ON COMMIT DROP"
            )
            with conn.cursor() as cur, cur.copy("COPY railzway_rekey FROM STDIN") as copy:
                for write in writes:
                    copy.write_row(write)
            conn.execute(
                "UPDATE instances AS i SET db_password = r.db_password, db_password_key_id = r.db_password_key_id, "
                "db_password_fingerprint = r.db_password_fingerprint, updated_at = now() "
                "FROM railzway_rekey AS r WHERE i.org_id = r.org_id"
            )
    summary = RekeySummary(primary.key_id, len(writes) - plaintext, plaintext, int(current[0]) if current else 0)
    log.info("%s", summary.text())
    return summary
