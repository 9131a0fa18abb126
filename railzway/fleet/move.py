"""Moving one tenant to another shard of its region: its Pulumi state first, then its registry file.

A tenant's shard never changes by itself because the shard decides the stack, and the stack holds the
tenant's state: editing `shard:` alone would make one stack create the tenant's database again while the
other deletes it. `plan_move` checks everything that could go wrong without changing anything (the plan is
the preview); `execute_move` runs `pulumi state move` and only then rewrites the registry file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from railzway.engine.stacks import STACK_ENV, OnOutput, StackLocked, StackRef, StackRunner, tenant_urn
from railzway.registry.model import Registry, Tenant
from railzway.registry.shards import ShardStack, shard_key, stack_of, with_shard
from railzway.registry.tenant_files import write_tenant

log = logging.getLogger(__name__)


class MoveRefused(Exception):
    """The move would be unsafe or makes no sense; nothing was changed."""


class MoveEngine(StackRunner, Protocol):
    """What a move needs of the engine beyond running stacks (`railzway.engine.stacks.AutomationStacks` has it)."""

    def project_name(self) -> str: ...

    def lock_holders(self, stack: str) -> list[str]: ...

    def resources(self, stack: StackRef) -> list[dict[str, Any]]: ...

    def move_state(
        self, source: StackRef, dest: StackRef, urns: Sequence[str], on_output: OnOutput | None = None
    ) -> None: ...


@dataclass(frozen=True)
class MovePlan:
    """What `execute_move` will do. `resources` are the source-stack URNs that move (component first)."""

    tenant: Tenant
    moved: Tenant
    source: StackRef
    dest: StackRef
    component: str
    resources: tuple[str, ...]

    def text(self) -> str:
        lines = [
            f"org {self.tenant.org_id}: shard {shard_key(self.tenant.region, self.tenant.shard)} -> "
            f"{shard_key(self.moved.region, self.moved.shard)}; "
            f"{len(self.resources)} resources move from stack {self.source.name} to {self.dest.name}:"
        ]
        lines += [f"  - {urn}" for urn in self.resources]
        return "\n".join(lines)


def check_move(registry: Registry, org_id: int, to_shard: int, environ: Mapping[str, str]) -> Tenant:
    """The tenant as it will be after the move; MoveRefused for every reason that needs no engine."""
    if environ.get(STACK_ENV, "").strip():
        raise MoveRefused(
            f"{STACK_ENV}={environ[STACK_ENV].strip()} puts every tenant in one stack: there is no shard stack to move to"
        )
    tenant = registry.tenants.get(org_id)
    if tenant is None:
        raise MoveRefused(f"org {org_id} is not in the registry")
    region = registry.regions.regions[tenant.region]
    if not 0 <= to_shard < region.shards:
        raise MoveRefused(
            f"region {tenant.region} has shards 0-{region.shards - 1}; shard {to_shard} does not exist "
            "(raise `shards` in regions.yaml first)"
        )
    if to_shard == tenant.shard:
        raise MoveRefused(f"org {org_id} is already in shard {shard_key(tenant.region, to_shard)}: nothing to move")
    return with_shard(registry, tenant, to_shard)


def plan_move(
    registry: Registry, org_id: int, to_shard: int, environment: str, engine: MoveEngine, environ: Mapping[str, str]
) -> MovePlan:
    """Check the move end to end and say what it will move; changes nothing. MoveRefused when unsafe."""
    moved = check_move(registry, org_id, to_shard, environ)
    tenant = registry.tenants[org_id]
    source = StackRef.of(stack_of(tenant, environment))
    dest = StackRef.of(ShardStack(environment, moved.region, moved.shard))
    _refuse_if_locked(engine, source, dest)

    project = engine.project_name()
    component = tenant_urn(source.name, org_id, project)
    resources = tenant_resources(engine.resources(source), component)
    if not resources:
        raise MoveRefused(
            f"stack {source.name} holds no resources of org {org_id}: it was never deployed there, so there is "
            f"no state to move (if it is not deployed anywhere yet, change `shard:` in its file instead)"
        )
    dest_component = tenant_urn(dest.name, org_id, project)
    taken = {r.get("urn") for r in engine.resources(dest)}
    clashes = sorted(u for u in (_in_stack(urn, source.name, dest.name) for urn in resources) if u in taken)
    if clashes:
        raise MoveRefused(
            f"stack {dest.name} already holds resources of org {org_id} ({dest_component} and "
            f"{len(clashes) - 1} more): resolve that before moving"
        )
    preview = engine.run(source, "preview", targets=[component])
    if preview.changes.changed:
        c = preview.changes
        raise MoveRefused(
            f"org {org_id} has changes pending in stack {source.name} (+{c.creates} ~{c.updates + c.replaces} "
            f"-{c.deletes}): run `up` on that stack (or revert the change) so the tenant is settled, then move it"
        )
    return MovePlan(tenant, moved, source, dest, component, tuple(resources))


def execute_move(plan: MovePlan, registry_dir: str | Path, engine: MoveEngine) -> Path:
    """Move the tenant's state, then record its new shard in its file (returned). MoveRefused if locked now."""
    _refuse_if_locked(engine, plan.source, plan.dest)
    log.info("moving org %d from %s to %s", plan.tenant.org_id, plan.source.name, plan.dest.name)
    # Children and the providers they use come along with the component (`pulumi state move` semantics).
    try:
        engine.move_state(plan.source, plan.dest, [plan.component])
    except StackLocked as e:
        raise MoveRefused(f"{e}: nothing was moved; retry when it has finished") from None
    return write_tenant(registry_dir, plan.moved)


def tenant_resources(resources: Sequence[Mapping[str, Any]], component: str) -> list[str]:
    """The component's URN and every descendant's, in state order; [] when the component is not there."""
    urns = [str(r.get("urn")) for r in resources]
    if component not in urns:
        return []
    parent = {str(r.get("urn")): r.get("parent") for r in resources}
    inside: list[str] = []
    for urn in urns:
        node: Any = urn
        while node:
            if node == component:
                inside.append(urn)
                break
            node = parent.get(node)
    return inside


def _in_stack(urn: str, source: str, dest: str) -> str:
    prefix = f"urn:pulumi:{source}::"
    return f"urn:pulumi:{dest}::{urn[len(prefix) :]}" if urn.startswith(prefix) else urn


def _refuse_if_locked(engine: MoveEngine, *stacks: StackRef) -> None:
    for stack in stacks:
        holders = engine.lock_holders(stack.name)
        if holders:
            raise MoveRefused(
                f"stack {stack.name} is locked by a running update ({'; '.join(holders)}): "
                "wait for it to finish (or `pulumi cancel` a dead one), then move"
            )
