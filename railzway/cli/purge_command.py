"""`railzway purge --org ID --confirm ID`: delete an orphan tenant's data after a final backup."""

from __future__ import annotations

from pathlib import Path

import typer

from railzway.cli.backup_command import EXIT_CANNOT_RUN, STORE_OPTION, cloud_db, open_store
from railzway.cli.common import ADMIN_URL_OPTION, REGISTRY_OPTION, CommandError, registry_or_fail
from railzway.engine.stacks import PulumiUnavailable
from railzway.lifecycle.backup import server_tools
from railzway.lifecycle.pgtools import ToolError
from railzway.lifecycle.purge import PurgeRefused, purge, tenant_in_resources


def engine_stacks_holding(org_id: int) -> list[str]:
    """The project's stacks whose state holds any part of the tenant, read through the Automation API."""
    from pulumi import automation as auto

    from railzway.engine.stacks import PROJECT_DIR, AutomationStacks, StackRef

    engine = AutomationStacks()
    names = [summary.name for summary in auto.LocalWorkspace(work_dir=str(PROJECT_DIR)).list_stacks()]
    return [name for name in names if tenant_in_resources(engine.resources(StackRef(name)), org_id)]


def purge_command(
    admin_url: str = ADMIN_URL_OPTION,
    registry: Path = REGISTRY_OPTION,
    store: str | None = STORE_OPTION,
    org: int = typer.Option(..., "--org", metavar="ID", help="The orphan tenant to purge."),
    confirm: int = typer.Option(..., "--confirm", metavar="ID", help="The same org id again: purging deletes data."),
) -> None:
    """Delete an orphan tenant's database and role after a final backup, and tombstone it in the Cloud DB."""
    loaded = registry_or_fail(registry)
    if confirm != org:
        raise CommandError(f"purge refused: --confirm {confirm} does not repeat --org {org}; nothing was purged", 1)
    if org in loaded.tenants:
        # Said before anything is opened: the registry alone answers it.
        raise CommandError(
            f"purge refused: org {org} is in the registry ({registry}/orgs/{org}.yaml): remove it there and apply "
            "first; purge only deletes tenants the fleet no longer manages (the audit's orphans)",
            1,
        )
    backups = open_store(store)
    try:
        tools = server_tools(admin_url)
    except ToolError as e:
        raise CommandError(str(e), EXIT_CANNOT_RUN) from None
    with cloud_db(required=True) as conn:
        assert conn is not None
        try:
            done = purge(
                admin_url,
                backups,
                tools,
                conn,
                org_id=org,
                confirm=confirm,
                registry_org_ids=loaded.tenants.keys(),
                stacks_holding=engine_stacks_holding,
            )
        except PulumiUnavailable as e:
            raise CommandError(
                f"purge refused: cannot read the stacks' state to prove org {org} is an orphan: {e}", 2
            ) from None
        except PurgeRefused as e:
            raise CommandError(f"purge refused: {e}", 1) from None
    if done.already:
        print(f"org {org} was already purged (final backup {done.final_backup_url}): nothing to do")
    else:
        print(
            f"purged org {org}: database and role dropped; final backup {done.final_backup_url} "
            f"(SHA-256 {done.final_backup_sha256}); tombstone written to the Cloud DB"
        )


def register(app: typer.Typer) -> None:
    app.command("purge")(purge_command)
