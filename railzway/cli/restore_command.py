"""`railzway restore`: a backup into a new database, or `--verify` that every tenant's newest backup restores."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from railzway.cli.backup_command import EXIT_CANNOT_RUN, STORE_OPTION, open_store
from railzway.cli.common import ADMIN_URL_OPTION, REGISTRY_OPTION, CommandError, registry_or_fail
from railzway.lifecycle.backup import ServerTools, server_tools
from railzway.lifecycle.backup_store import StoreError
from railzway.lifecycle.pgtools import ToolError
from railzway.lifecycle.restore import RestoreFailed, manifest_of, newest_backup, restore_into
from railzway.lifecycle.verify import Verified, verify_tenant


def restore(
    admin_url: str = ADMIN_URL_OPTION,
    registry: Path = REGISTRY_OPTION,
    store: str | None = STORE_OPTION,
    org: int | None = typer.Option(None, "--org", metavar="ID", help="The tenant whose backup to restore."),
    backup: str | None = typer.Option(None, "--backup", metavar="URL", help="This backup (default: the newest)."),
    at: str | None = typer.Option(
        None, "--at", metavar="TIMESTAMP", help="The newest backup taken at or before this ISO 8601 time (UTC)."
    ),
    into: str | None = typer.Option(None, "--into", metavar="NEW_DB", help="The new database to create."),
    verify: bool = typer.Option(
        False,
        "--verify",
        help="Restore the newest backup of each tenant (or of --org) into a scratch database, compare row "
        "counts and schema with the live one, drop the scratch database.",
    ),
) -> None:
    """Restore a tenant's backup into a new database (never over the live one), or --verify backups."""
    loaded = registry_or_fail(registry)
    backups = open_store(store)
    if verify:
        if into or backup or at:
            raise CommandError("--verify takes no --into, --backup or --at", EXIT_CANNOT_RUN)
        chosen = [loaded.tenants[org]] if org is not None and org in loaded.tenants else None
        if org is not None and chosen is None:
            raise CommandError(f"--org {org}: not in the registry", EXIT_CANNOT_RUN)
        tenants = chosen or sorted(loaded.tenants.values(), key=lambda t: t.org_id)
        tools = _tools(admin_url)
        results = [verify_tenant(admin_url, backups, tools, t.org_id, t.region) for t in tenants]
        Console(width=120 if not os.isatty(1) else None).print(_verify_table(results))
        failed = [r for r in results if not r.ok]
        if failed:
            raise CommandError(
                f"verify failed for {len(failed)} of {len(results)} tenant(s): "
                + "; ".join(f"org {r.org_id}: {r.problems[0]}" for r in failed),
                1,
            )
        return
    if org is None or into is None:
        raise CommandError("restore needs --org ID and --into NEW_DB (or --verify)", EXIT_CANNOT_RUN)
    if backup and at:
        raise CommandError("give --backup URL or --at TIMESTAMP, not both", EXIT_CANNOT_RUN)
    tools = _tools(admin_url)
    try:
        if backup:
            key = backups.key_of(backup)
            found = manifest_of(backups, key).org_id
            if found != org:
                raise CommandError(f"restore refused: {backup} is a backup of org {found}, not of org {org}", 1)
        else:
            region = loaded.tenants[org].region if org in loaded.tenants else None
            key = newest_backup(backups, org, region, _parse_at(at) if at else None).key
        manifest = restore_into(admin_url, backups, tools, key, into)
    except (RestoreFailed, StoreError) as e:
        raise CommandError(f"restore failed: {e}", 1) from None
    print(
        f"restored org {manifest.org_id} from {backups.url_of(key)} (taken {manifest.finished_at.isoformat()}, "
        f"SHA-256 verified) into database {into}, owned by railzway_restorer, PUBLIC revoked"
    )


def _tools(admin_url: str) -> ServerTools:
    try:
        return server_tools(admin_url)
    except ToolError as e:
        raise CommandError(str(e), EXIT_CANNOT_RUN) from None


def _parse_at(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--at {text}: not an ISO 8601 time (e.g. 2026-11-30T03:00:00Z)", EXIT_CANNOT_RUN) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _verify_table(results: list[Verified]) -> Table:
    table = Table(title="Backup verification", title_justify="left")
    for header in ("org", "backup", "result"):
        table.add_column(header, justify="right" if header == "org" else "left")
    for r in results:
        verdict = (
            "[green]restores, same rows and schema[/green]" if r.ok else "[red]FAILED[/red] " + "; ".join(r.problems)
        )
        table.add_row(str(r.org_id), r.backup or "-", verdict)
    return table


def register(app: typer.Typer) -> None:
    app.command("restore")(restore)
