"""`railzway move ORG --to SHARD`: move a tenant's state to another shard stack, then its registry file."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from railzway.cli.common import REGISTRY_OPTION, CommandError, registry_or_fail
from railzway.engine.stacks import DEFAULT_ENVIRONMENT, ENVIRONMENT_ENV, PulumiUnavailable
from railzway.fleet import MoveRefused, check_move, execute_move, plan_move
from railzway.registry.shards import shard_key


def move(
    org_id: int = typer.Argument(..., metavar="ORG", help="The tenant's org id."),
    to_shard: int = typer.Option(..., "--to", metavar="SHARD", help="The shard of its region to move it to."),
    yes: bool = typer.Option(False, "--yes", help="Perform the move (without it: check and show the plan only)."),
    environment: str = typer.Option(
        DEFAULT_ENVIRONMENT, "--environment", envvar=ENVIRONMENT_ENV, help="The environment of the stacks."
    ),
    registry_dir: Path = REGISTRY_OPTION,
) -> None:
    """Move a tenant between shard stacks with `pulumi state move` (refused while either stack is locked)."""
    registry = registry_or_fail(registry_dir)
    try:
        check_move(registry, org_id, to_shard, os.environ)
        from railzway.engine.stacks import AutomationStacks

        engine = AutomationStacks()
        plan = plan_move(registry, org_id, to_shard, environment, engine, os.environ)
    except MoveRefused as e:
        raise CommandError(f"move refused: {e}", 1) from None
    except PulumiUnavailable as e:
        raise CommandError(str(e), 2) from None
    print(plan.text())
    if not yes:
        print("preview only: nothing was moved; run again with --yes to move")
        return
    try:
        path = execute_move(plan, registry_dir, engine)
    except MoveRefused as e:
        raise CommandError(f"move refused: {e}", 1) from None
    print(
        f"moved: {path} now records shard {shard_key(plan.moved.region, plan.moved.shard)}; commit it before the "
        f"next `up` of {plan.source.name} or {plan.dest.name}, then `railzway fleet preview --stacks "
        f"{plan.source.name} --stacks {plan.dest.name}` shows no changes"
    )


def register(app: typer.Typer) -> None:
    app.command("move")(move)
