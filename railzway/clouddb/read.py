"""Reading the `instances` table back: a tenant's decrypted credentials.

`credentials` is for tools that must log in as tenants (the audit's `--login-matrix`); keep what it
returns in memory only.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

import psycopg

from railzway.clouddb.crypto import DecryptionError, KeyRing
from railzway.clouddb.migrate import require_current

# A tenant row's non-secret columns (the service shows them as the tenant's last synced state).
STATE_COLUMNS = (
    "org_id",
    "nomad_job_id",
    "desired_version",
    "current_version",
    "status",
    "tier",
    "compute_engine",
    "subscription_id",
    "db_host",
    "db_port",
    "db_name",
    "db_user",
    "db_password_key_id",
    "region",
    "source_stack",
    "created_at",
    "updated_at",
)


class CredentialsError(ValueError):
    """Some stored passwords do not decrypt; `problems` names each org (never a password)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Credentials(NamedTuple):
    """What a tenant logs in with."""

    user: str
    password: str
    db_name: str


def credentials(
    conn: psycopg.Connection, keys: KeyRing, org_ids: Collection[int] | None = None
) -> dict[int, Credentials]:
    """Decrypted credentials by org id (all rows, or only `org_ids`); rows without a password are left out.

    A seed-era row still in plain text (no key id) is returned as stored; `rekey` encrypts it. Raises
    CredentialsError naming every org whose password does not decrypt.
    """
    require_current(conn)
    query = (
        "SELECT org_id, db_user, db_password, db_password_key_id, db_name FROM instances "
        "WHERE db_password IS NOT NULL AND db_password <> '' AND db_user IS NOT NULL AND db_name IS NOT NULL"
    )
    params: tuple[object, ...] = ()
    if org_ids is not None:
        query += " AND org_id = ANY(%s)"
        params = (list(org_ids),)
    found: dict[int, Credentials] = {}
    problems: list[str] = []
    for org_id, user, stored, key_id, db_name in conn.execute(query + " ORDER BY org_id", params).fetchall():
        try:
            password = stored if key_id is None else keys.decrypt(org_id, key_id, stored)
        except DecryptionError as e:
            problems.append(str(e))
            continue
        found[int(org_id)] = Credentials(user, password, db_name)
    if problems:
        raise CredentialsError(problems)
    return found
