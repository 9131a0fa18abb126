"""One batch of requests becomes one targeted `pulumi up` and one Cloud DB sync.

The engine is reached only through `railzway.stacks.StackRunner`. The default is the real one
(`AutomationStacks`: a `LocalWorkspace` on the project directory). For tests, and only for tests,
`RAILZWAY_RUNNER` names another factory: `package.module:factory` or `/path/to/file.py:factory`, a
callable taking the service `Settings` and returning a `StackRunner`. The service logs a warning at start
whenever it is set; it is never a default.

Failures become `UpdateFailed` with a sentence for the API (never the exception's text, which can carry
engine output or SQL) and whether trying again can help. The details go to the log.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from railzway.clouddb import CloudDBUnavailable, KeyRing, OutputsError, SchemaOutOfDate, SyncSummary, connect, sync
from railzway.service.settings import RUNNER_ENV, Settings, SettingsError
from railzway.stacks import (
    AutomationStacks,
    PulumiUnavailable,
    StackLocked,
    StackRef,
    StackRunner,
    failure_reason,
    tenant_urn,
)

log = logging.getLogger(__name__)
engine_log = logging.getLogger("railzway.service.engine")

REGISTRY_DIR_KEY = "railzway:registryDir"
NO_CLI = "the pulumi CLI is not on PATH"

RunnerFactory = Callable[[], StackRunner]


class UpdateFailed(Exception):
    """An update that did not happen; `reason` is safe to show, `transient` says whether to try again."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


@dataclass(frozen=True)
class UpdateOutcome:
    """What the update and the sync did, for the requests' summaries (no secret in it)."""

    changes: dict[str, int]
    synced: dict[str, int]
    missing: tuple[int, ...] = ()
    """Orgs of the batch that the stack's outputs do not list after the update."""

    def summary(self) -> dict[str, Any]:
        return {"update": self.changes, "sync": self.synced}


class Updater:
    """Runs a batch on a stack and syncs its orgs' outputs into the Cloud DB. Blocking: call from a thread."""

    def __init__(self, runner_factory: RunnerFactory, cloud_db_url: str, keys: KeyRing) -> None:
        self._runner_factory = runner_factory
        self._url = cloud_db_url
        self._keys = keys

    def apply(self, stack: StackRef, org_ids: Sequence[int]) -> UpdateOutcome:
        runner = self._runner()
        targets = [tenant_urn(stack.name, org_id) for org_id in org_ids]
        try:
            result = runner.run(stack, "up", targets=targets, on_output=_engine_line)
        except PulumiUnavailable:
            raise UpdateFailed(NO_CLI, transient=False) from None
        except Exception as e:
            raise _classified(stack.name, e) from None
        tenants = result.outputs.get("tenants")
        listed = tenants if isinstance(tenants, Mapping) else {}
        wanted = {str(org_id) for org_id in org_ids}
        mine = {key: value for key, value in listed.items() if key in wanted}
        missing = tuple(sorted(org_id for org_id in org_ids if str(org_id) not in mine))
        summary = self._sync(stack.name, mine)
        changes = {
            "create": result.changes.creates,
            "update": result.changes.updates,
            "delete": result.changes.deletes,
            "replace": result.changes.replaces,
            "same": result.changes.sames,
        }
        synced = {"inserted": summary.inserted, "updated": summary.updated, "unchanged": summary.unchanged}
        return UpdateOutcome(changes, synced, missing)

    def _runner(self) -> StackRunner:
        try:
            return self._runner_factory()
        except PulumiUnavailable:
            raise UpdateFailed(NO_CLI, transient=False) from None

    def _sync(self, stack: str, tenants: Mapping[str, Any]) -> SyncSummary:
        if not tenants:
            return SyncSummary(0, 0, 0)
        try:
            with connect(self._url, application_name=f"railzway serve sync {stack}") as conn:
                return sync(conn, {"tenants": dict(tenants)}, self._keys, stack=stack)
        except OutputsError as e:
            # The problems name org and field and never a value (see railzway.clouddb.outputs).
            raise UpdateFailed(
                f"the update ran, but the stack's outputs cannot be synced to the Cloud DB: {'; '.join(e.problems)}",
                transient=False,
            ) from None
        except SchemaOutOfDate:
            raise UpdateFailed(
                "the update ran, but the Cloud DB schema is not current: run `python -m railzway migrate`",
                transient=False,
            ) from None
        except (CloudDBUnavailable, psycopg.OperationalError) as e:
            log.warning("sync of stack %s failed: %s", stack, type(e).__name__)
            raise UpdateFailed("the update ran, but the Cloud DB did not answer for the sync", transient=True) from None


def _classified(stack: str, error: Exception) -> UpdateFailed:
    from pulumi import automation as auto

    if isinstance(error, StackLocked | auto.ConcurrentUpdateError):
        return UpdateFailed(f"another update of stack {stack} was running", transient=True)
    if isinstance(error, auto.CommandError):
        engine_log.error("pulumi up of stack %s failed: %s", stack, failure_reason(error))
        return UpdateFailed(
            f"pulumi up of stack {stack} failed; the service log has the engine's message for this request",
            transient=True,
        )
    log.error("update of stack %s stopped by an unexpected error", stack, exc_info=error)
    return UpdateFailed(
        f"an unexpected error stopped the update of stack {stack}; the service log has the details",
        transient=False,
    )


def _engine_line(line: str) -> None:
    # The engine masks secrets in what it prints; the log formatter scrubs configured secrets as well.
    text = line.rstrip()
    if text:
        engine_log.debug(text)


class RegistryDirStacks:
    """`AutomationStacks` whose stacks read the registry directory the service writes.

    The program reads `railzway:registryDir` (relative to the project); the service writes
    `RAILZWAY_REGISTRY_DIR`. Before each update the stack's setting is pointed at the service's
    directory when it names another one, so the two can never silently disagree.
    """

    def __init__(self, stacks: AutomationStacks, registry_dir: Path) -> None:
        self._stacks = stacks
        self._registry_dir = registry_dir.resolve()

    def run(self, stack: StackRef, operation: Any, *, targets: Sequence[str] = (), on_output: Any = None) -> Any:
        self._point_at_registry(stack)
        return self._stacks.run(stack, operation, targets=targets, on_output=on_output)

    def outputs(self, stack: StackRef) -> dict[str, Any]:
        return self._stacks.outputs(stack)

    def _point_at_registry(self, stack: StackRef) -> None:
        from pulumi import automation as auto

        selected = self._stacks.select(stack)
        current = selected.get_all_config().get(REGISTRY_DIR_KEY)
        configured = (self._stacks.project_dir / (current.value if current else "tenants")).resolve()
        if configured != self._registry_dir:
            log.info("stack %s: setting %s to %s", stack.name, REGISTRY_DIR_KEY, self._registry_dir)
            selected.set_config(REGISTRY_DIR_KEY, auto.ConfigValue(value=str(self._registry_dir)))


def runner_factory(settings: Settings) -> RunnerFactory:
    """The engine for this process: the real one, or the test runner `RAILZWAY_RUNNER` names."""
    if settings.runner is None:
        return lambda: RegistryDirStacks(AutomationStacks(), settings.registry_dir)
    factory = load_reference(settings.runner)
    log.warning("%s is set: updates run on the test runner %s, not on the Pulumi engine", RUNNER_ENV, settings.runner)
    return lambda: factory(settings)


def load_reference(reference: str) -> Callable[..., Any]:
    """The callable `module:name` or `/path/to/file.py:name` refers to; SettingsError when there is none."""
    target, sep, name = reference.rpartition(":")
    if not sep or not target or not name.isidentifier():
        raise SettingsError(f"{RUNNER_ENV} must be 'package.module:factory' or '/path/to/file.py:factory'")
    if target.endswith(".py"):
        path = Path(target).resolve()
        spec = importlib.util.spec_from_file_location(f"railzway_test_runner_{path.stem}", path)
        if spec is None or spec.loader is None or not path.is_file():
            raise SettingsError(f"{RUNNER_ENV}: no Python file {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses (and pickling) look a class's module up there
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError:
            raise SettingsError(f"{RUNNER_ENV}: no module {target}") from None
    found = getattr(module, name, None)
    if not callable(found):
        raise SettingsError(f"{RUNNER_ENV}: {target} has no callable {name!r}")
    return found
