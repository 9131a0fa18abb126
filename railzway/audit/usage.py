"""Per-tenant database metrics: size against the tier's storage quota, connections against its limit.

`usage_rows` joins the registry's expectations with the server's figures (pure); the three renderers
turn the rows into a table for people, JSON for scripts and the Prometheus text exposition format for
node_exporter's textfile collector.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rich import box
from rich.table import Table

from railzway.audit.catalogue import Usage
from railzway.audit.expected import ExpectedTenant

MIB = 1024 * 1024
METRIC_PREFIX = "railzway_tenant_"
LABELS = ("org_id", "region", "tier")


@dataclass(frozen=True)
class TenantUsage:
    """One tenant's figures; `size_bytes` is None when its database is not on the server."""

    org_id: int
    region: str
    tier: str
    status: str
    database: str
    size_bytes: int | None
    storage_quota_bytes: int
    connections: int
    connection_limit: int
    last_backup: dt.datetime | None = None
    """The newest successful backup (Cloud DB `tenant_backups`); None when none or not read."""
    backup_stale: bool = False
    """True when backups were read and the newest is missing or older than the threshold."""

    @property
    def present(self) -> bool:
        return self.size_bytes is not None

    @property
    def over_quota(self) -> bool:
        return self.size_bytes is not None and self.size_bytes > self.storage_quota_bytes

    def as_dict(self) -> dict[str, object]:
        return {
            "org_id": self.org_id,
            "region": self.region,
            "tier": self.tier,
            "status": self.status,
            "database": self.database,
            "present": self.present,
            "size_bytes": self.size_bytes,
            "storage_quota_bytes": self.storage_quota_bytes,
            "over_quota": self.over_quota,
            "connections": self.connections,
            "connection_limit": self.connection_limit,
            "last_backup": self.last_backup.isoformat() if self.last_backup else None,
            "backup_stale": self.backup_stale,
        }


def usage_rows(expected: Sequence[ExpectedTenant], usage: Mapping[str, Usage]) -> list[TenantUsage]:
    """One row per expected tenant, in org id order, whether or not its database exists."""
    rows = []
    for tenant in expected:
        found = usage.get(tenant.database)
        rows.append(
            TenantUsage(
                org_id=tenant.org_id,
                region=tenant.region,
                tier=tenant.tier_name,
                status=tenant.status,
                database=tenant.database,
                size_bytes=found.size_bytes if found else None,
                storage_quota_bytes=tenant.tier.storage_quota_mb * MIB,
                connections=found.connections if found else 0,
                connection_limit=tenant.tier.connection_limit,
            )
        )
    return rows


def with_backups(
    rows: Sequence[TenantUsage], last: Mapping[int, dt.datetime], stale_after: dt.timedelta, now: dt.datetime
) -> list[TenantUsage]:
    """The rows with each tenant's newest backup time, flagged stale when missing or older than `stale_after`."""
    return [
        dataclasses.replace(
            row,
            last_backup=last.get(row.org_id),
            backup_stale=row.org_id not in last or now - last[row.org_id] > stale_after,
        )
        for row in rows
    ]


def to_json(rows: Sequence[TenantUsage]) -> str:
    document = {
        "tenants": [row.as_dict() for row in rows],
        "over_quota": [row.org_id for row in rows if row.over_quota],
        "missing": [row.org_id for row in rows if not row.present],
    }
    return json.dumps(document, indent=2)


# name, HELP text, value of a row (None: no sample for that row).
_METRICS: tuple[tuple[str, str, Callable[[TenantUsage], float | None]], ...] = (
    (
        "database_present",
        "1 when the tenant's database exists on the server, 0 when it is missing.",
        lambda r: 1 if r.present else 0,
    ),
    ("database_size_bytes", "Size of the tenant's database (pg_database_size).", lambda r: r.size_bytes),
    ("storage_quota_bytes", "Storage quota of the tenant's tier.", lambda r: r.storage_quota_bytes),
    (
        "over_storage_quota",
        "1 when the tenant's database is larger than its tier's storage quota.",
        lambda r: 1 if r.over_quota else 0,
    ),
    ("connections", "Open client connections to the tenant's database (pg_stat_activity).", lambda r: r.connections),
    ("connection_limit", "Connection limit of the tenant's tier.", lambda r: r.connection_limit),
    (
        "last_backup_timestamp_seconds",
        "Unix time of the tenant's newest successful backup (railzway backup; from the Cloud DB).",
        lambda r: int(r.last_backup.timestamp()) if r.last_backup else None,
    ),
)


def to_prometheus(rows: Sequence[TenantUsage]) -> str:
    """The text exposition format: every metric's HELP and TYPE, then its samples, labelled by tenant."""
    lines: list[str] = []
    for name, help_text, value_of in _METRICS:
        metric = METRIC_PREFIX + name
        lines.append(f"# HELP {metric} {help_text}")
        lines.append(f"# TYPE {metric} gauge")
        for row in rows:
            value = value_of(row)
            if value is not None:
                lines.append(f"{metric}{{{_labels(row)}}} {_number(value)}")
    return "\n".join(lines) + "\n"


def to_table(rows: Sequence[TenantUsage]) -> Table:
    """The table for people: fits 80 columns, since only the findings column wraps (the figures never do)."""
    # No vertical rules and one space between columns: the figures need 61 columns, the findings get the rest.
    table = Table(title="Tenant databases", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 0))
    # Backups are known only when the report read the Cloud DB; without it the column would say nothing.
    show_backups = any(row.last_backup is not None or row.backup_stale for row in rows)
    for header, justify in (
        ("org", "right"),
        ("region", "left"),
        ("tier", "left"),
        ("status", "left"),
        ("size", "right"),
        ("quota", "right"),
        ("used", "right"),
        ("conns", "right"),
        *((("last backup", "right"),) if show_backups else ()),
    ):
        table.add_column(header, justify=justify, no_wrap=True)
    table.add_column("findings", justify="left", overflow="fold", min_width=8, ratio=1)
    for row in rows:
        if row.size_bytes is None:
            size, used, note = "-", "-", "[red]database missing[/red]"
        else:
            size = _size(row.size_bytes)
            used = f"{100 * row.size_bytes / row.storage_quota_bytes:.0f}%"
            note = "[red]OVER QUOTA[/red]" if row.over_quota else ""
        if row.present and row.connections >= row.connection_limit:
            note = (note + ", " if note else "") + "[yellow]at connection limit[/yellow]"
        if row.backup_stale:
            note = (note + ", " if note else "") + "[yellow]backup stale[/yellow]"
        table.add_row(
            str(row.org_id),
            row.region,
            row.tier,
            row.status,
            size,
            _size(row.storage_quota_bytes),
            used,
            f"{row.connections}/{row.connection_limit}",
            *(
                (row.last_backup.astimezone(dt.UTC).strftime("%m-%d %H:%MZ") if row.last_backup else "never",)
                if show_backups
                else ()
            ),
            note,
        )
    return table


def _labels(row: TenantUsage) -> str:
    values = {"org_id": str(row.org_id), "region": row.region, "tier": row.tier}
    return ",".join(f'{key}="{_escape(values[key])}"' for key in LABELS)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _size(size: int) -> str:
    for unit, scale in (("GiB", 1024 * MIB), ("MiB", MIB)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size / 1024:.1f} KiB"
