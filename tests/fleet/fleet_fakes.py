"""Helpers of the fleet tests: small registries written as real files, and a recording engine behind the seam."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from railzway.engine.stacks import Changes, OnOutput, Operation, StackRef, StackResult

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED_REGISTRY = PROJECT / "tenants"


def write_registry(
    root: Path,
    tenants: Sequence[Mapping[str, Any]],
    regions: Mapping[str, int] | None = None,
    max_per_shard: int = 250,
) -> Path:
    """A registry directory with the shipped tiers, these regions (name -> shards) and tenant files.

    A tenant mapping without `shard` is written without one, as a new tenant's file is.
    """
    registry = root / "tenants"
    (registry / "orgs").mkdir(parents=True)
    shutil.copy(SHIPPED_REGISTRY / "tiers.yaml", registry / "tiers.yaml")
    shards = regions or {"eu-west": 3, "us-east": 1}
    lines = [f"default: {next(iter(shards))}", f"max_tenants_per_shard: {max_per_shard}", "regions:"]
    for name, count in shards.items():
        lines += [f"  {name}:", f"    shards: {count}"]
    (registry / "regions.yaml").write_text("\n".join(lines) + "\n")
    for tenant in tenants:
        write_tenant_file(registry, tenant)
    return registry


def write_tenant_file(registry: Path, tenant: Mapping[str, Any]) -> Path:
    fields = {"tier": "starter", "version": "1.8.2", "status": "running", "region": "eu-west", **tenant}
    body = "".join(f"{key}: {_yaml(value)}\n" for key, value in fields.items())
    path = registry / "orgs" / f"{fields['org_id']}.yaml"
    path.write_text(body)
    return path


def _yaml(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) and value[:1].isdigit() else str(value)


@dataclass
class RecordingStacks:
    """A `StackRunner` and `MoveEngine` that records every call and answers from what the test set.

    `delay` makes each run take that long, so the test can observe how many ran at once; `failing`
    names stacks whose run raises; `state` holds each stack's resources (as `export_stack` gives them);
    `move_error` is raised by `move_state` (as the engine raises when a lock appears mid-move).
    """

    delay: float = 0.0
    failing: Mapping[str, Exception] = field(default_factory=dict)
    changes: Mapping[str, Changes] = field(default_factory=dict)
    outputs_of: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    locks: dict[str, list[str]] = field(default_factory=dict)
    state: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    move_error: Exception | None = None
    calls: list[tuple[str, str, Operation, tuple[str, ...]]] = field(default_factory=list)
    moves: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    running_now: int = 0
    most_at_once: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(
        self,
        stack: StackRef,
        operation: Operation,
        *,
        targets: Sequence[str] = (),
        on_output: OnOutput | None = None,
    ) -> StackResult:
        with self._lock:
            self.calls.append((threading.current_thread().name, stack.name, operation, tuple(targets)))
            self.running_now += 1
            self.most_at_once = max(self.most_at_once, self.running_now)
        try:
            if on_output is not None:
                on_output(f"{operation} {stack.name}\n")
            time.sleep(self.delay)
            if stack.name in self.failing:
                raise self.failing[stack.name]
            return StackResult(
                stack.name,
                operation,
                self.changes.get(stack.name, Changes()),
                dict(self.outputs_of.get(stack.name, {})),
            )
        finally:
            with self._lock:
                self.running_now -= 1

    def outputs(self, stack: StackRef) -> dict[str, Any]:
        return dict(self.outputs_of.get(stack.name, {}))

    def project_name(self) -> str:
        return "railzway"

    def lock_holders(self, stack: str) -> list[str]:
        return list(self.locks.get(stack, []))

    def resources(self, stack: StackRef) -> list[dict[str, Any]]:
        return list(self.state.get(stack.name, []))

    def move_state(
        self, source: StackRef, dest: StackRef, urns: Sequence[str], on_output: OnOutput | None = None
    ) -> None:
        if self.move_error is not None:
            raise self.move_error
        self.moves.append((source.name, dest.name, tuple(urns)))


def tenant_state(stack: str, org_id: int) -> list[dict[str, Any]]:
    """What a stack's exported state holds for one deployed tenant: the component and its children."""
    component = f"urn:pulumi:{stack}::railzway::railzway:index:TenantInstance::org-{org_id}"
    root = f"urn:pulumi:{stack}::railzway::pulumi:pulumi:Stack::railzway-{stack}"
    child = "urn:pulumi:{stack}::railzway::railzway:index:TenantInstance${type}::org-{org}-{role}"
    resources: list[dict[str, Any]] = [{"urn": component, "type": "railzway:index:TenantInstance", "parent": root}]
    for type_, role in (
        ("random:index/randomPassword:RandomPassword", "password"),
        ("postgresql:index/role:Role", "role"),
        ("postgresql:index/database:Database", "database"),
    ):
        resources.append(
            {"urn": child.format(stack=stack, type=type_, org=org_id, role=role), "type": type_, "parent": component}
        )
    return resources


def stack_root(stack: str) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:{stack}::railzway::pulumi:pulumi:Stack::railzway-{stack}",
        "type": "pulumi:pulumi:Stack",
    }
