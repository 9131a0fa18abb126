"""`railzway report`: each tenant's database size against its storage quota, and its open connections."""

from __future__ import annotations

import enum
import sys
from pathlib import Path

import typer
from rich.console import Console

from railzway.audit import report
from railzway.audit.errors import CannotRun
from railzway.audit.run import registry_or_cannot_run, run_report
from railzway.cli.common import ADMIN_URL_OPTION, CommandError

EXIT_CANNOT_RUN = 2
PIPED_WIDTH = 80


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
) -> None:
    """Per-tenant database size, quota and connections."""
    try:
        rows = run_report(admin_url, registry_or_cannot_run(registry), region)
    except CannotRun as e:
        raise CommandError(e.message, EXIT_CANNOT_RUN) from None
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


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
