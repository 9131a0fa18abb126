"""`railzway assign-shard [ORG...]`: record the least-loaded shard in tenant files that have none."""

from __future__ import annotations

from pathlib import Path

import typer

from railzway.cli.common import REGISTRY_OPTION, CommandError, console_err, registry_or_fail
from railzway.registry.loader import UNPLACED_MESSAGE, check_registry
from railzway.registry.shards import assign_shards, has_recorded_shard, shard_key, unplaced
from railzway.registry.tenant_files import write_tenant


def assign_shard(
    org_ids: list[int] = typer.Argument(
        None, metavar="[ORG]...", help="Tenants to place (default: every unplaced one)."
    ),
    registry_dir: Path = REGISTRY_OPTION,
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 when a tenant file has no shard (CI)."),
) -> None:
    """Give new tenant files the least-loaded shard of their region (ties: the lowest shard)."""
    if check:
        _check(registry_dir)
        return
    registry = registry_or_fail(registry_dir, unplaced_ok=True)
    if org_ids:
        missing = [org for org in org_ids if org not in registry.tenants]
        if missing:
            raise CommandError(f"not in {registry_dir}: org {', '.join(map(str, missing))}", 1)
        placed = [registry.tenants[org] for org in org_ids if has_recorded_shard(registry.tenants[org])]
        if placed:
            t = placed[0]
            raise CommandError(
                f"org {t.org_id} is already in shard {shard_key(t.region, t.shard)} (its stack holds its state): "
                f"use `railzway move {t.org_id} --to SHARD` to move it",
                1,
            )
        todo = [registry.tenants[org] for org in dict.fromkeys(org_ids)]
    else:
        todo = unplaced(registry)
    if not todo:
        print("every tenant file already records its shard")
        return
    for tenant in assign_shards(registry, todo):
        path = write_tenant(registry_dir, tenant)
        print(f"org {tenant.org_id}: shard {shard_key(tenant.region, tenant.shard)} ({path})")


def _check(registry_dir: Path) -> None:
    """The rule `validate` applies, answered the same way: the same lines, exit 1."""
    _, problems = check_registry(registry_dir)
    missing = [p for p in problems if p.field == "shard" and p.message == UNPLACED_MESSAGE]
    for problem in missing:
        console_err(problem.text())
    if missing:
        raise CommandError(f"{len(missing)} tenant file(s) without a shard", 1)
    if any(p.severity == "error" for p in problems):
        raise CommandError(f"{registry_dir}: invalid registry (run `railzway validate`)", 1)
    print("every tenant file records its shard")


def register(app: typer.Typer) -> None:
    app.command("assign-shard")(assign_shard)
