"""The Automation API layer: select a shard stack, run a (targeted) up, preview or refresh, read outputs.

The fleet runner, the provisioning service and `railzway sync --stack` drive stacks only through the
`StackRunner` protocol below; `AutomationStacks` is its implementation on the real engine (a
`LocalWorkspace` on the project directory). Tests hand those callers their own `StackRunner` and need no
CLI. Nothing here shells out to `pulumi` itself: every engine call goes through `pulumi.automation`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlparse

from railzway.admin import session_rules as admin_rules
from railzway.registry import naming
from railzway.registry.location import PROJECT_ROOT
from railzway.registry.model import Tenant
from railzway.registry.shards import SHARDS_CONFIG_KEY, ShardStack, stack_of
from railzway.tenant import spec

log = logging.getLogger(__name__)

PROJECT_DIR = PROJECT_ROOT
TENANT_TYPE = spec.TENANT_TYPE
STACK_ENV = "RAILZWAY_STACK"
ENVIRONMENT_ENV = "RAILZWAY_ENVIRONMENT"
DEFAULT_ENVIRONMENT = "prod"

Operation = Literal["preview", "up", "refresh"]
OPERATIONS: tuple[Operation, ...] = ("preview", "up", "refresh")
OnOutput = Callable[[str], Any]
_LABEL_RE = re.compile(r"^(?:code|stdout|stderr):\s*")


class PulumiUnavailable(RuntimeError):
    """The `pulumi` CLI, which the Automation API drives, is not installed."""


class StackLocked(RuntimeError):
    """Another update holds the stack's lock; retry when it has finished."""

    def __init__(self, stack: str, holders: Sequence[str] = ()) -> None:
        detail = f" ({'; '.join(holders)})" if holders else ""
        super().__init__(f"stack {stack} is locked by another update{detail}")
        self.stack = stack
        self.holders = list(holders)


@dataclass(frozen=True)
class StackRef:
    """A stack to run, and the `railzway:shards` value it must have.

    `shards` None leaves the stack's configuration as it is (the dev stack, whose file says what it holds);
    an empty tuple means every tenant.
    """

    name: str
    shards: tuple[str, ...] | None = None

    @classmethod
    def of(cls, stack: ShardStack) -> StackRef:
        return cls(stack.name, tuple(stack.shards_config()))


@dataclass(frozen=True)
class Changes:
    """Resource changes of one operation, as the engine counted them."""

    creates: int = 0
    updates: int = 0
    deletes: int = 0
    replaces: int = 0
    sames: int = 0

    @classmethod
    def from_op_map(cls, ops: Mapping[Any, int] | None) -> Changes:
        """From `UpdateSummary.resource_changes` or `PreviewResult.change_summary` (keys are op names)."""
        counts = {(k.value if isinstance(k, Enum) else str(k)): int(v) for k, v in (ops or {}).items()}
        return cls(
            creates=counts.get("create", 0),
            updates=counts.get("update", 0),
            deletes=counts.get("delete", 0),
            replaces=counts.get("replace", 0),
            sames=counts.get("same", 0),
        )

    @property
    def changed(self) -> int:
        return self.creates + self.updates + self.deletes + self.replaces


@dataclass(frozen=True)
class StackResult:
    """What one operation on one stack did. `outputs` is filled by `up` (values may be secrets: never log)."""

    stack: str
    operation: Operation
    changes: Changes
    outputs: Mapping[str, Any] = field(default_factory=dict, repr=False)


class StackRunner(Protocol):
    """The seam between the engine and its users (fleet runner, service, `sync --stack`)."""

    def run(
        self,
        stack: StackRef,
        operation: Operation,
        *,
        targets: Sequence[str] = (),
        on_output: OnOutput | None = None,
    ) -> StackResult:
        """Run `operation` on `stack` (created when missing); `targets` limits it to those URNs and dependents."""
        ...

    def outputs(self, stack: StackRef) -> dict[str, Any]:
        """The stack's current outputs, secrets in plain text."""
        ...


def require_pulumi() -> str:
    """The path of the `pulumi` CLI, or PulumiUnavailable."""
    found = shutil.which("pulumi")
    if found is None:
        raise PulumiUnavailable(
            "the pulumi CLI is not on PATH: install it (https://www.pulumi.com/docs/install/) "
            "to run stacks; registry commands work without it"
        )
    return found


def tenant_urn(stack: str, org_id: int, project: str = "railzway") -> str:
    """The URN of a tenant's `TenantInstance` in a stack: target it (with dependents) to touch one tenant."""
    return f"urn:pulumi:{stack}::{project}::{TENANT_TYPE}::{naming.resource_name(org_id)}"


def stack_for_tenant(tenant: Tenant, environ: Mapping[str, str] | None = None) -> StackRef:
    """The stack that holds `tenant` for this process.

    `RAILZWAY_STACK`, when set, names the one stack that holds every tenant (e.g. `dev`), configured by its
    own file; otherwise the tenant's shard stack in `RAILZWAY_ENVIRONMENT` (default `prod`).
    """
    env = os.environ if environ is None else environ
    single = env.get(STACK_ENV, "").strip()
    if single:
        return StackRef(single)
    environment = env.get(ENVIRONMENT_ENV, "").strip() or DEFAULT_ENVIRONMENT
    stack = stack_of(tenant, environment)
    if naming.parse_stack_name(stack.name) != (environment, tenant.region, tenant.shard):
        raise ValueError(f"{ENVIRONMENT_ENV}={environment!r} is not an environment name (lower-case letters, digits)")
    return StackRef.of(stack)


def failure_reason(error: BaseException) -> str:
    """One line saying why an engine call failed (the engine's last `error:` line), for tables and logs."""
    text = str(error)
    # An Automation API CommandError reads "code: N / stdout: ... / stderr: ...": drop those labels.
    lines = [_LABEL_RE.sub("", line.strip()) for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if "error:" in line.lower()]
    reason = (errors or lines or [type(error).__name__])[-1]
    return reason if len(reason) <= 300 else reason[:297] + "..."


def workspace_env(env_vars: Mapping[str, str] | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment every engine run gets: `env_vars`, with `PGOPTIONS` pinning the provider's sessions.

    The postgresql provider inherits the CLI's environment and its driver honours `PGOPTIONS`, whose `-c`
    options beat any setting a tenant puts on its database (issue 13): so no workspace of the fleet runner
    or the service runs the provider without them, whatever the region's admin carries.
    """
    given = dict(env_vars or {})
    return given | admin_rules.provider_environment({**environ, **given})


class AutomationStacks:
    """`StackRunner` on the real engine: a `LocalWorkspace` on the project directory.

    Operations on one stack are serialized (the engine would refuse a second one with a lock error);
    different stacks run in parallel from different threads.
    """

    def __init__(
        self,
        project_dir: str | os.PathLike[str] = PROJECT_DIR,
        *,
        env_vars: Mapping[str, str] | None = None,
        pulumi_home: str | None = None,
    ) -> None:
        require_pulumi()
        from pulumi import automation as auto

        self._auto = auto
        self.project_dir = Path(project_dir).resolve()
        self._env = workspace_env(env_vars, os.environ)
        self._home = pulumi_home
        self._guard = threading.Lock()
        self._selecting = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def select(self, stack: StackRef) -> Any:
        """The `auto.Stack`, created when missing, with its `railzway:shards` set as `stack` says."""
        auto = self._auto
        # `stack select` rewrites the project's one workspace file: parallel selects would race on it.
        with self._selecting:
            selected = auto.create_or_select_stack(
                stack_name=stack.name,
                work_dir=str(self.project_dir),
                opts=auto.LocalWorkspaceOptions(env_vars=dict(self._env), pulumi_home=self._home),
            )
        if stack.shards is not None:
            self._set_shards(selected, list(stack.shards))
        return selected

    def run(
        self,
        stack: StackRef,
        operation: Operation,
        *,
        targets: Sequence[str] = (),
        on_output: OnOutput | None = None,
    ) -> StackResult:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r} (one of {', '.join(OPERATIONS)})")
        with self._serialized(stack.name):
            selected = self.select(stack)
            target_args: dict[str, Any] = {"target": list(targets), "target_dependents": True} if targets else {}
            log.info("%s %s%s", operation, stack.name, f" (targets: {', '.join(targets)})" if targets else "")
            if operation == "preview":
                preview = selected.preview(on_output=on_output, **target_args)
                return StackResult(stack.name, operation, Changes.from_op_map(preview.change_summary))
            if operation == "up":
                up = selected.up(on_output=on_output, **target_args)
                outputs = {key: value.value for key, value in up.outputs.items()}
                return StackResult(stack.name, operation, Changes.from_op_map(up.summary.resource_changes), outputs)
            refresh = selected.refresh(on_output=on_output, **target_args)
            return StackResult(stack.name, operation, Changes.from_op_map(refresh.summary.resource_changes))

    def outputs(self, stack: StackRef) -> dict[str, Any]:
        selected = self.select(stack)
        return {key: value.value for key, value in selected.outputs().items()}

    def project_name(self) -> str:
        return str(self._workspace().project_settings().name)

    def resources(self, stack: StackRef) -> list[dict[str, Any]]:
        """The stack's resources as its state holds them (URN, type, parent, ...); [] when it does not exist.

        Reading never creates the stack.
        """
        auto = self._auto
        try:
            with self._selecting:
                selected = auto.select_stack(
                    stack_name=stack.name,
                    work_dir=str(self.project_dir),
                    opts=auto.LocalWorkspaceOptions(env_vars=dict(self._env), pulumi_home=self._home),
                )
        except auto.StackNotFoundError:
            return []
        deployment = selected.export_stack().deployment or {}
        return list(deployment.get("resources") or [])

    def lock_holders(self, stack: str) -> list[str]:
        """Who holds the stack's update lock, one description each; [] when it is free.

        A `file://` (DIY) backend keeps a lock file per running update under
        `.pulumi/locks/<org>/<project>/<stack>/`; the Pulumi Cloud backend reports `updateInProgress`.
        """
        workspace = self._workspace()
        url = workspace.who_am_i().url or ""
        if url.startswith("file://"):
            return _diy_lock_holders(_file_backend_root(url), str(workspace.project_settings().name), stack)
        for summary in workspace.list_stacks(include_all=True):
            if summary.name.split("/")[-1] == stack and summary.update_in_progress:
                return [f"an update is in progress ({summary.url or 'Pulumi Cloud'})"]
        return []

    def move_state(
        self, source: StackRef, dest: StackRef, urns: Sequence[str], on_output: OnOutput | None = None
    ) -> None:
        """`pulumi state move` of `urns` from `source` to `dest`, through the Automation API's CLI interface.

        Both stacks are selected first so the destination exists with its shard configuration. The
        Automation API has no `Stack` method for it in SDK 3.272; `Workspace.cli_api.state_move` is its
        generated interface to the same command. StackLocked when either stack is locked.
        """
        with self._serialized(source.name), self._serialized(dest.name):
            self.select(source)
            self.select(dest)
            workspace = self._workspace()
            env = dict(self._env)
            if self._home:
                env["PULUMI_HOME"] = self._home
            try:
                workspace.cli_api.state_move(
                    *urns,
                    source=source.name,
                    dest=dest.name,
                    cwd=str(self.project_dir),
                    additional_env=env,
                    on_output=on_output,
                )
            except self._auto.ConcurrentUpdateError:
                raise StackLocked(f"{source.name} or {dest.name}") from None

    def _workspace(self) -> Any:
        return self._auto.LocalWorkspace(
            work_dir=str(self.project_dir), env_vars=dict(self._env), pulumi_home=self._home
        )

    @contextmanager
    def _serialized(self, stack: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(stack, threading.Lock())
        with lock:
            yield

    def _set_shards(self, selected: Any, shards: list[str]) -> None:
        auto = self._auto
        current = selected.get_all_config().get(SHARDS_CONFIG_KEY)
        have = json.loads(current.value) if current is not None and current.value else []
        if have == shards:
            return
        if current is not None:
            selected.remove_config(SHARDS_CONFIG_KEY)
        if shards:
            selected.set_all_config(
                {f"{SHARDS_CONFIG_KEY}[{i}]": auto.ConfigValue(value=s) for i, s in enumerate(shards)}, path=True
            )


def _file_backend_root(url: str) -> Path:
    parsed = urlparse(url)
    path = unquote(parsed.netloc + parsed.path)
    return Path(os.path.expanduser(path))


def _diy_lock_holders(root: Path, project: str, stack: str) -> list[str]:
    """Lock files of a DIY backend for `stack` (project-scoped layout, and the legacy flat one)."""
    locks = root / ".pulumi" / "locks"
    holders: list[str] = []
    for directory in (locks / "organization" / project / stack, locks / stack):
        if not directory.is_dir():
            continue
        for lock in sorted(directory.glob("*.json")):
            try:
                content = json.loads(lock.read_text(encoding="utf-8"))
                holders.append(
                    f"{content.get('username', '?')}@{content.get('hostname', '?')} "
                    f"(pid {content.get('pid', '?')}) since {content.get('timestamp', '?')}"
                )
            except (OSError, ValueError):
                holders.append(f"lock file {lock}")
    return holders
