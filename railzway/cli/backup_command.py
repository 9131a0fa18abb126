"""`railzway backup`: pg_dump every chosen tenant into the backup store, record it, prune by GFS retention."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from railzway.cli.common import ADMIN_URL_OPTION, REGISTRY_OPTION, CommandError, console_err, registry_or_fail
from railzway.clouddb.connect import URL_ENV, CloudDBUnavailable, cloud_db_url, connect
from railzway.lifecycle import records
from railzway.lifecycle.backup import Outcome, Target, apply_retention, backup_tenants, server_tools
from railzway.lifecycle.backup_store import BackupStore, StoreError, store_url
from railzway.lifecycle.pgtools import ToolError
from railzway.registry.model import Registry

STORE_OPTION = typer.Option(
    None,
    "--store",
    metavar="URL",
    help="The backup store: file:///path, s3://bucket/prefix, gs://..., az://... (default: $RAILZWAY_BACKUP_URL).",
)
EXIT_CANNOT_RUN = 2


def open_store(value: str | None) -> BackupStore:
    try:
        return BackupStore(store_url(value, os.environ))
    except StoreError as e:
        raise CommandError(str(e), EXIT_CANNOT_RUN) from None


@contextmanager
def cloud_db(required: bool) -> Iterator[psycopg.Connection | None]:
    """An autocommit Cloud DB connection; None (said on stderr) when optional and not configured."""
    if not required and not os.environ.get(URL_ENV, "").strip():
        console_err(f"note: {URL_ENV} is not set: backups are not recorded in the Cloud DB")
        yield None
        return
    try:
        conn = connect(cloud_db_url(os.environ), "railzway-lifecycle")
    except CloudDBUnavailable as e:
        raise CommandError(str(e), EXIT_CANNOT_RUN) from None
    conn.autocommit = True
    with conn:
        yield conn


def targets_of(registry: Registry, orgs: Sequence[int], all_: bool, region: str | None) -> list[Target]:
    """The tenants chosen by `--org ...` or `--all`, within `--region` when given."""
    if bool(orgs) == all_:
        raise CommandError("choose the tenants: --org ID (repeatable) or --all", EXIT_CANNOT_RUN)
    if region is not None and region not in registry.regions.regions:
        raise CommandError(f"--region {region}: not a region of the registry", EXIT_CANNOT_RUN)
    unknown = [org for org in orgs if org not in registry.tenants]
    if unknown:
        raise CommandError(f"--org {', '.join(map(str, unknown))}: not in the registry", EXIT_CANNOT_RUN)
    chosen = (
        [registry.tenants[org] for org in orgs] if orgs else sorted(registry.tenants.values(), key=lambda t: t.org_id)
    )
    return [Target(t.org_id, t.region) for t in chosen if region is None or t.region == region]


def backup(
    admin_url: str = ADMIN_URL_OPTION,
    registry: Path = REGISTRY_OPTION,
    store: str | None = STORE_OPTION,
    org: list[int] = typer.Option([], "--org", metavar="ID", help="A tenant to back up (repeatable)."),
    all_: bool = typer.Option(False, "--all", help="Back up every tenant of the registry (of --region)."),
    region: str | None = typer.Option(None, "--region", metavar="R", help="Only this region's tenants."),
    keep_daily: int | None = typer.Option(None, "--keep-daily", metavar="N", min=0, help="Then keep N daily backups."),
    keep_weekly: int | None = typer.Option(
        None, "--keep-weekly", metavar="M", min=0, help="Then keep M weekly backups (GFS; the newest always stays)."
    ),
) -> None:
    """Back up tenant databases (pg_dump custom format) to the backup store, each with a JSON manifest."""
    targets = targets_of(registry_or_fail(registry), org, all_, region)
    backups = open_store(store)
    try:
        tools = server_tools(admin_url)
    except ToolError as e:
        raise CommandError(str(e), EXIT_CANNOT_RUN) from None
    with cloud_db(required=False) as conn:
        record = (lambda r: records.record_backup(conn, r)) if conn is not None else None
        with _progress() as progress:
            task = progress.add_task("backup", total=len(targets))

            def observe(outcome: Outcome) -> None:
                progress.update(task, advance=1, description=f"org {outcome.target.org_id}")

            outcomes = backup_tenants(admin_url, backups, tools, targets, record=record, observe=observe)
    Console(width=120 if not os.isatty(1) else None).print(summary_table(outcomes, backups))
    if keep_daily is not None or keep_weekly is not None:
        pruned = apply_retention(backups, targets, keep_daily or 0, keep_weekly or 0)
        print(f"retention: pruned {pruned} backup(s) (keep {keep_daily or 0} daily, {keep_weekly or 0} weekly)")
    failed = [o for o in outcomes if not o.ok]
    if failed:
        names = "; ".join(f"org {o.target.org_id}: {o.error}" for o in failed)
        raise CommandError(f"backup failed for {len(failed)} of {len(outcomes)} tenant(s): {names}", 1)


def summary_table(outcomes: Sequence[Outcome], store: BackupStore) -> Table:
    table = Table(title=f"Backups to {store.url}", title_justify="left")
    for header, justify in (
        ("org", "right"),
        ("region", "left"),
        ("size", "right"),
        ("seconds", "right"),
        ("", "left"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for o in outcomes:
        size = f"{o.manifest.size_bytes / 1024:.1f} KiB" if o.manifest else "-"
        result = f"[green]{o.manifest.dump}[/green]" if o.manifest else f"[red]FAILED[/red] {o.error}"
        table.add_row(str(o.target.org_id), o.target.region, size, f"{o.seconds:.2f}", result)
    return table


@contextmanager
def _progress() -> Iterator[Progress]:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    with progress:
        yield progress


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
