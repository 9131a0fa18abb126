"""One batch of requests becomes one `pulumi up` (targeted at its orgs, or the whole stack for a reconcile),
the Cloud DB sync, and the registry revision recorded: `railzway.engine.apply`, the one apply path.

With a registry remote, the update reads a snapshot of the branch head (fetched just before), never the
live clone, and the head is recorded as the stack's revision when the update applied everything that
changed for the stack since its last recorded revision: always for a reconcile (a whole-stack `up`); for a
targeted `up` only when no other tenant of the stack, and no catalogue, changed in between (otherwise the
recorded revision stays, and the reconcile or `fleet up --changed-only` brings the stack up to the head).

The engine is reached only through `railzway.engine.stacks.StackRunner`, made for each update by a
`RunnerFactory` from the registry directory the update reads. The service runs on `automation_runner`
(`AutomationStacks`: a `LocalWorkspace` on the project directory, with `RAILZWAY_REGISTRY_DIR` set for the
engine to the snapshot, never written into the stack's configuration); tests hand `Service(runner=...)`
another factory in code. Nothing in the environment can swap it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from railzway.clouddb import connect, stack_revisions
from railzway.engine.apply import Applied, ApplyFailed, CloudDB, apply_stack, classify
from railzway.engine.stacks import AutomationStacks, StackRef, StackRunner, stack_for_tenant
from railzway.registry.git import GitError, drift, is_ancestor
from railzway.registry.loader import RegistryError, load_registry
from railzway.registry.location import REGISTRY_DIR_ENV
from railzway.service.registry_commits import RegistryCommits

log = logging.getLogger(__name__)
engine_log = logging.getLogger("railzway.service.engine")

RunnerFactory = Callable[[Path], StackRunner]
"""Given the registry directory the update must read, the engine to run it on."""

UpdateFailed = ApplyFailed


@dataclass(frozen=True)
class UpdateOutcome:
    """What the update and the sync did, for the requests' summaries (no secret in it)."""

    changes: dict[str, int]
    synced: dict[str, int]
    missing: tuple[int, ...] = ()
    """Orgs of the batch that the stack's outputs do not list after the update."""
    revision: str | None = None
    """The registry commit the update applied (None without a registry remote)."""
    recorded: bool = False
    """Whether `revision` was recorded as the stack's applied revision."""

    def summary(self) -> dict[str, Any]:
        applied = {} if self.revision is None else {"revision": self.revision, "revision_recorded": self.recorded}
        return {"update": self.changes, "sync": self.synced, **applied}


class Updater:
    """Runs a batch on a stack and syncs its orgs' outputs into the Cloud DB. Blocking: call from a thread."""

    def __init__(
        self,
        runner_factory: RunnerFactory,
        cloud_db: CloudDB,
        registry_dir: Path,
        commits: RegistryCommits | None = None,
        stack_env: Mapping[str, str] | None = None,
    ) -> None:
        self._runner_factory = runner_factory
        self._cloud_db = cloud_db
        self._registry_dir = registry_dir
        self._commits = commits
        self._stack_env = dict(stack_env or {})

    def apply(self, stack: StackRef, org_ids: Sequence[int] | None, applied_by: str) -> UpdateOutcome:
        """`up` of `org_ids`' tenants (None: the whole stack), sync, record the revision when it is whole."""
        with self._registry_at_head() as (head, registry):
            runner = self._runner(registry)
            record = head is not None and (org_ids is None or self._covers(stack, org_ids, head, registry))
            applied = apply_stack(
                runner,
                stack,
                self._cloud_db,
                orgs=org_ids,
                revision=head if record else None,
                applied_by=applied_by,
                on_output=_engine_line,
            )
        return _outcome(applied, head)

    @contextmanager
    def _registry_at_head(self) -> Iterator[tuple[str | None, Path]]:
        if self._commits is None:
            yield None, self._registry_dir
            return
        with ExitStack() as stack:
            try:
                head, registry = stack.enter_context(self._commits.snapshot())
            except GitError as e:
                log.warning("registry fetch failed: %s", e)
                raise UpdateFailed("the registry's git remote did not answer", transient=True) from None
            yield head, registry

    def _covers(self, stack: StackRef, org_ids: Sequence[int], head: str, registry: Path) -> bool:
        """Whether a targeted `up` of `org_ids` at `head` leaves nothing of the stack behind its recorded revision."""
        assert self._commits is not None
        try:
            with connect(self._cloud_db.url, application_name="railzway serve revisions") as conn:
                recorded = stack_revisions(conn).get(stack.name)
        except Exception as e:  # the sync right after will classify a Cloud DB failure; here: do not record
            log.info("stack %s: recorded revision unreadable (%s)", stack.name, type(e).__name__)
            return False
        if recorded is None:
            return False
        git = self._commits.clone.git
        try:
            if not is_ancestor(git, recorded.revision, head):
                return False
            changed = drift(git, recorded.revision, head, self._commits.clone.registry)
        except GitError:
            return False
        if changed.catalogues:
            return False
        try:
            tenants = load_registry(registry).tenants
        except RegistryError:
            return False
        batch = set(org_ids)
        for org in changed.orgs:
            if org in batch:
                continue
            tenant = tenants.get(org)
            if tenant is None or stack_for_tenant(tenant, self._stack_env).name == stack.name:
                return False
        return True

    def _runner(self, registry: Path) -> StackRunner:
        try:
            return self._runner_factory(registry)
        except Exception as e:
            raise classify("(starting the engine)", e) from None


def _outcome(applied: Applied, head: str | None) -> UpdateOutcome:
    changes = applied.result.changes
    summary = applied.synced
    return UpdateOutcome(
        changes={
            "create": changes.creates,
            "update": changes.updates,
            "delete": changes.deletes,
            "replace": changes.replaces,
            "same": changes.sames,
        },
        synced={"inserted": summary.inserted, "updated": summary.updated, "unchanged": summary.unchanged},
        missing=applied.missing,
        revision=head,
        recorded=applied.recorded is not None,
    )


def _engine_line(line: str) -> None:
    # The engine masks secrets in what it prints; the log formatter scrubs configured secrets as well.
    text = line.rstrip()
    if text:
        engine_log.debug(text)


def automation_runner(registry: Path) -> StackRunner:
    """The Pulumi engine, reading the registry at `registry` (the `RunnerFactory` the service runs on)."""
    # The program reads the registry from this variable (`railzway.registry.location`); it is the engine's
    # environment for this update only, never a stack setting.
    return AutomationStacks(env_vars={REGISTRY_DIR_ENV: str(registry.resolve())})
