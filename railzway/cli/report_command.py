"""`railzway report`: each tenant's database size against its storage quota, and its open connections."""

from __future__ import annotations

import datetime as dt
import enum
import os
import sys
from pathlib import Path

import psycopg
import typer
from rich.console import Console

from railzway.audit import usage as report
from railzway.audit.errors import CannotRun
from railzway.audit.run import registry_or_cannot_run, run_report
from railzway.cli.common import ADMIN_URL_OPTION, CommandError
from railzway.clouddb.connect import URL_ENV, CloudDBUnavailable, cloud_db_url, connect
from railzway.lifecycle import records

EXIT_CANNOT_RUN = 2
PIPED_WIDTH = 80
# Backups run daily: a day and a margin for a slow run before a tenant is flagged.
BACKUP_STALE_AFTER_HOURS = 26.0


class Format(enum.StrEnum):
    table = "table"
    json = "json"
    prometheus = "prometheus"


def report_command(
    admin_url: str = ADMIN_URL_OPTION,
    registry: Path = typer.Option(..., "--registry", metavar="DIR", help="The tenants registry directory."),
    region: str | None = typer.Option(None, "--region", metavar="R", help="Report only this region's tenants."),
    format: Format = typer.Option(
        Format.table,
        "--format",
        help="table for people, json for scripts, prometheus for node_exporter's textfile collector.",
    ),
    fail_on_quota: bool = typer.Option(False, "--fail-on-quota", help="Exit 1 when a tenant is over its quota."),
    backup_stale_after: float = typer.Option(
        BACKUP_STALE_AFTER_HOURS,
        "--backup-stale-after",
        metavar="HOURS",
        min=0,
        help="Flag a tenant whose newest backup is older (backups are read from the Cloud DB when "
        "RAILZWAY_CLOUD_DB_URL is set).",
    ),
) -> None:
    """Per-tenant database size, quota and connections."""
    try:
        rows = run_report(admin_url, registry_or_cannot_run(registry), region)
    except CannotRun as e:
        raise CommandError(e.message, EXIT_CANNOT_RUN) from None
    if os.environ.get(URL_ENV, "").strip():
        rows = report.with_backups(
            rows,
            _last_backups([row.org_id for row in rows]),
            dt.timedelta(hours=backup_stale_after),
            dt.datetime.now(dt.UTC),
        )
    if format is Format.table:
        # Piped output has no terminal width: an 80-column page, as on a terminal of that size.
        Console(width=None if sys.stdout.isatty() else PIPED_WIDTH).print(report.to_table(rows))
    elif format is Format.json:
        print(report.to_json(rows))
    else:
        print(report.to_prometheus(rows), end="")
    over = [row.org_id for row in rows if row.over_quota]
    if fail_on_quota and over:
        raise CommandError(f"{len(over)} tenant(s) over their storage quota: {', '.join(map(str, over))}", 1)


def _last_backups(org_ids: list[int]) -> dict[int, dt.datetime]:
    """Each tenant's newest successful backup, from the Cloud DB (migration 000008)."""
    try:
        with connect(cloud_db_url(os.environ), "railzway-report") as conn:
            return records.last_backups(conn, org_ids)
    except CloudDBUnavailable as e:
        raise CommandError(str(e), EXIT_CANNOT_RUN) from None
    except psycopg.errors.UndefinedTable:
        raise CommandError(
            "the Cloud DB has no tenant_backups table yet: run `railzway migrate`", EXIT_CANNOT_RUN
        ) from None


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
