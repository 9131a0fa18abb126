"""The Go control plane's rows in the Cloud DB: what `adopt` reads, and the passwords adopted tenants keep.

The seed left the `instances` table at migration version 4 with `db_password` in plain text; our
migrations (000005 on) add the key id, and the sync encrypts a row the first time it writes it. So a row
whose password has no key id still holds the seed's plain text, which also means no stack has synced that
tenant yet: its role and database are not in any Pulumi state. The program uses exactly that to decide
whether an adopted tenant's objects must still be imported (`SeedPassword.pending`).

Reads only: nothing here writes to the Cloud DB, and nothing here migrates it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import psycopg

from railzway.clouddb.crypto import DecryptionError, KeyRing
from railzway.clouddb.migrate import CLOUD_DB

SEED_VERSION = 4
"""The version the Go control plane's migrations end at (000004_add_db_credentials)."""
_KEY_ID_VERSION = 5
"""From 000005_encrypt_db_password on, `db_password_key_id` says whether a password is encrypted."""


class SeedSchemaError(Exception):
    """The Cloud DB is not in a state this program can read the seed's rows from; the message says why."""


@dataclass(frozen=True)
class SeedInstance:
    """One `instances` row as the Go control plane (or a later sync) left it. Never printed with its password."""

    org_id: int
    nomad_job_id: str | None
    desired_version: str | None
    current_version: str | None
    status: str | None
    tier: str | None
    subscription_id: str | None
    db_host: str | None
    db_port: int | None
    db_name: str | None
    db_user: str | None
    password_encrypted: bool
    """True when a sync already encrypted the password: a stack held this tenant once."""
    password: str | None = field(default=None, repr=False)
    """The plain-text password (None when missing or encrypted); keep it in memory only."""


@dataclass(frozen=True)
class SeedPassword:
    """An adopted tenant's password as the program needs it."""

    password: str = field(repr=False)
    pending: bool
    """True while the row still holds the seed's plain text: the tenant's objects are not in a state yet."""


def schema_version(conn: psycopg.Connection) -> int:
    """The Cloud DB's migration version, or SeedSchemaError when it is dirty, unknown, too old or too new."""
    version, dirty = CLOUD_DB.status(conn)
    latest = CLOUD_DB.latest()
    if version is None:
        raise SeedSchemaError(
            "the Cloud DB has no schema_migrations version: it is not a Railzway Cloud DB (or was never migrated)"
        )
    if dirty:
        raise SeedSchemaError(
            f"the Cloud DB schema is dirty at version {version}: a migration failed or was interrupted; repair it "
            "(see `python -m railzway migrate --status`) before adopting anything"
        )
    if latest is None or version > latest:
        raise SeedSchemaError(
            f"the Cloud DB is at version {version}, newer than this program knows ({latest}): "
            "run a newer railzway, never an older one, against it"
        )
    if version < SEED_VERSION:
        raise SeedSchemaError(
            f"the Cloud DB is at version {version}: before {SEED_VERSION:06d}_add_db_credentials it holds no "
            "credentials to adopt; let the Go control plane migrate it first"
        )
    return version


def read_instances(conn: psycopg.Connection) -> list[SeedInstance]:
    """Every row of `instances`, by org id (the schema checked first, see `schema_version`)."""
    version = schema_version(conn)
    key_id = "db_password_key_id" if version >= _KEY_ID_VERSION else "NULL"
    rows = conn.execute(
        "SELECT org_id, nomad_job_id, desired_version, current_version, status, tier, subscription_id, "
        f"db_host, db_port, db_name, db_user, db_password, {key_id} FROM instances ORDER BY org_id"
    ).fetchall()
    instances = []
    for row in rows:
        stored, stored_key_id = row[11], row[12]
        encrypted = stored_key_id is not None
        plain = stored if isinstance(stored, str) and stored and not encrypted else None
        instances.append(
            SeedInstance(
                org_id=int(row[0]),
                nomad_job_id=row[1],
                desired_version=row[2],
                current_version=row[3],
                status=row[4],
                tier=row[5],
                subscription_id=row[6],
                db_host=row[7],
                db_port=row[8],
                db_name=row[9],
                db_user=row[10],
                password_encrypted=encrypted,
                password=plain,
            )
        )
    return instances


def adopted_passwords(
    conn: psycopg.Connection, org_ids: Collection[int], keys: Callable[[], KeyRing]
) -> dict[int, SeedPassword]:
    """The passwords of these adopted tenants; tenants without a row or a password are left out.

    `keys` is called only when some row is already encrypted (a sync ran), so a Cloud DB the Go control
    plane left needs no key. Raises DecryptionError (naming the org, never the password) when one fails.
    """
    if not org_ids:
        return {}
    version = schema_version(conn)
    key_id = "db_password_key_id" if version >= _KEY_ID_VERSION else "NULL"
    rows = conn.execute(
        f"SELECT org_id, db_password, {key_id} FROM instances "
        "WHERE org_id = ANY(%s) AND db_password IS NOT NULL AND db_password <> ''",
        (sorted(org_ids),),
    ).fetchall()
    ring: KeyRing | None = None
    found: dict[int, SeedPassword] = {}
    for org_id, stored, stored_key_id in rows:
        if stored_key_id is None:
            found[int(org_id)] = SeedPassword(stored, pending=True)
            continue
        ring = ring or keys()
        found[int(org_id)] = SeedPassword(ring.decrypt(int(org_id), stored_key_id, stored), pending=False)
    return found


__all__ = [
    "SEED_VERSION",
    "DecryptionError",
    "SeedInstance",
    "SeedPassword",
    "SeedSchemaError",
    "adopted_passwords",
    "read_instances",
    "schema_version",
]
