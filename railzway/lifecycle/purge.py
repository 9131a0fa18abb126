"""Purge a tenant's data: the explicit, last step of its life-cycle, and the only one that deletes data.

Only an orphan may be purged: a tenant in neither the registry nor any stack's state (what the audit
reports as `orphan-role` / `orphan-database`). The order makes every step safe to repeat: block logins and
end sessions (nothing is written after the final backup), take the final backup (a failure restores the
logins and stops here), drop the database and the role, then write the tombstone. A second purge finds
the tombstone and nothing on the server, and does nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from railzway.admin.into_tenant import connect_tenant
from railzway.lifecycle import records
from railzway.lifecycle.backup import BackupFailed, ServerTools, backup_tenant, record_of
from railzway.lifecycle.backup import Outcome as BackupOutcome
from railzway.lifecycle.backup import Target as BackupTarget
from railzway.lifecycle.backup_store import BackupStore
from railzway.registry import naming
from railzway.tenant import spec

APPLICATION = "railzway-purge"
MAINTENANCE_DB = "postgres"
TENANT_TYPE = spec.TENANT_TYPE
UNKNOWN_REGION = "unknown"


class PurgeRefused(Exception):
    """The purge did not start, or stopped before dropping anything; one line saying why."""


@dataclass(frozen=True)
class Purged:
    org_id: int
    already: bool
    """True when an earlier purge had done everything: this one changed nothing."""
    final_backup_url: str | None
    final_backup_sha256: str | None


def tenant_in_resources(resources: Sequence[Mapping[str, Any]], org_id: int) -> bool:
    """Whether a stack's state (its exported resources) holds any part of the tenant (pure).

    The tenant's component, role or database by name: a role left in a state without its component still
    means Pulumi manages it, and dropping it under Pulumi would make the next `up` recreate it.
    """
    names = {naming.resource_name(org_id), naming.role_name(org_id), naming.database_name(org_id)}
    for resource in resources:
        urn = str(resource.get("urn", ""))
        outputs = resource.get("outputs") or {}
        if urn.rsplit("::", 1)[-1] in names and str(resource.get("type")) == TENANT_TYPE:
            return True
        if str(resource.get("type", "")).startswith("postgresql:") and outputs.get("name") in names:
            return True
    return False


def purge(
    admin_url: str,
    store: BackupStore,
    tools: ServerTools,
    cloud: psycopg.Connection,
    *,
    org_id: int,
    confirm: int,
    registry_org_ids: Collection[int],
    stacks_holding: Callable[[int], list[str]],
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Purged:
    """Delete the orphan tenant `org_id`'s database and role after a final backup; see the module."""
    if confirm != org_id:
        raise PurgeRefused(f"--confirm {confirm} does not repeat --org {org_id}: nothing was purged")
    if org_id in registry_org_ids:
        raise PurgeRefused(
            f"org {org_id} is in the registry (tenants/orgs/{org_id}.yaml): remove it there and apply first; "
            "purge only deletes tenants the fleet no longer manages (the audit's orphans)"
        )
    holding = stacks_holding(org_id)
    if holding:
        raise PurgeRefused(
            f"org {org_id} is still in the state of stack(s) {', '.join(holding)}: run `pulumi up` on them "
            "without it first (its role and database are retained on delete)"
        )
    role, database = naming.role_name(org_id), naming.database_name(org_id)
    with connect_tenant(admin_url, MAINTENANCE_DB, APPLICATION) as conn:
        can_login = _role_login(conn, role)
        has_database = _exists(conn, "SELECT 1 FROM pg_database WHERE datname = %s", database)
        tomb = records.tombstone(cloud, org_id)
        if can_login is None and not has_database:
            if tomb is not None:
                return Purged(org_id, True, tomb.final_backup_url, tomb.final_backup_sha256)
            final = records.final_backup(cloud, org_id)
            if final is None:
                raise PurgeRefused(
                    f"org {org_id} has neither a role {role} nor a database {database}: nothing to purge"
                )
            # An earlier purge dropped everything but could not write its tombstone: finish it.
            records.write_tombstone(cloud, org_id, final.region, final.url, final.sha256)
            return Purged(org_id, False, final.url, final.sha256)
        region = _region(cloud, org_id)
        url = sha256 = None
        if can_login:
            conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))
        try:
            _end_sessions(conn, role, database)
            if has_database:
                started = clock()
                try:
                    manifest = backup_tenant(admin_url, store, tools, org_id, region, final=True, clock=clock)
                except BackupFailed as e:
                    failed = BackupOutcome(BackupTarget(org_id, region), 0.0, error=str(e))
                    records.record_backup(cloud, record_of(store, failed, started))
                    raise PurgeRefused(f"org {org_id}: the final backup failed, nothing was dropped: {e}") from None
                records.record_backup(
                    cloud, record_of(store, BackupOutcome(BackupTarget(org_id, region), 0.0, manifest), started)
                )
                url, sha256 = store.url_of(manifest.dump), manifest.sha256
        except BaseException:
            if can_login:
                conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(role)))
            raise
        if has_database:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        if can_login is not None:
            try:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            except psycopg.errors.DependentObjectsStillExist as e:
                raise PurgeRefused(
                    f"org {org_id}: its database is dropped (final backup {url}) but role {role} still owns or "
                    f"holds privileges elsewhere ({e.diag.message_detail or e}): REASSIGN/DROP OWNED in those "
                    "databases, then purge again"
                ) from None
    records.write_tombstone(cloud, org_id, region, url, sha256)
    return Purged(org_id, False, url, sha256)


def _role_login(conn: psycopg.Connection, role: str) -> bool | None:
    """None when the role does not exist, else whether it may log in."""
    row = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    return None if row is None else bool(row[0])


def _exists(conn: psycopg.Connection, query: str, value: str) -> bool:
    return conn.execute(query, (value,)).fetchone() is not None


def _end_sessions(conn: psycopg.Connection, role: str, database: str) -> None:
    conn.execute(
        """
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE pid <> pg_backend_pid() AND (datname = %s OR usename = %s)
        """,
        (database, role),
    )


def _region(cloud: psycopg.Connection, org_id: int) -> str:
    """Where the orphan lived, from its Cloud DB row (the registry no longer says)."""
    row = cloud.execute("SELECT region FROM instances WHERE org_id = %s", (org_id,)).fetchone()
    return str(row[0]) if row and row[0] else UNKNOWN_REGION
