"""The service as a git client of the registry: each request's change is one commit, pushed before it runs.

Around the existing writer (`RegistryAccess.write`): on a fresh checkout of the remote's branch head the
request is planned again from the tenant as the branch has it, written, committed as
`deploy org 1003: version 1.8.2 -> 1.9.0 (request <uuid>)` and pushed. A refused push fetches and plans
again on the new head, so a change merged through a pull request meanwhile is read, never undone.

A request that fails is reverted by a commit that says why (`revert deploy org 1003 (request <uuid>): ...`),
restoring the tenant file as it was before the request's commit — unless the file changed again since
(a pull request or a later request), which then stands. Revert rather than never-push: the change must be
on the branch before its `up` runs, so that a crash between the two is healed by the reconcile from the
branch alone, and so the stack applies exactly a commit everyone can check out.

Every update reads a snapshot of the branch at the commit it applies (`snapshot`), not the live clone,
which other requests' commits rewrite meanwhile.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from railzway.registry.access import RegistryAccess
from railzway.registry.git import Edit, Published, RegistryClone
from railzway.registry.loader import tenant_path
from railzway.registry.model import Registry, Tenant
from railzway.service.actions import Change

log = logging.getLogger(__name__)


def request_marker(request_id: Any) -> str:
    return f"(request {request_id})"


def commit_message(action: str, org_id: int, change: Change, request_id: Any) -> str:
    """`deploy org 1003: version 1.8.2 -> 1.9.0 (request <uuid>)`: the action, the org, what changed, who."""
    if change.created:
        t = change.tenant
        what = f"new tenant, tier {t.tier}, version {t.version}, {t.region} shard {t.shard}"
    elif change.changes:
        what = ", ".join(
            f"{k} {_text(v.get('from'))} -> {_text(v.get('to'))}" for k, v in sorted(change.changes.items())
        )
    else:
        what = "no change"
    return f"{action} org {org_id}: {what} {request_marker(request_id)}"


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    return str(value)


class ClonedRegistry(RegistryAccess):
    """`RegistryAccess` on the clone's registry directory: every read holds the clone's lock, so it never
    sees the work tree half way through a checkout."""

    def __init__(self, clone: RegistryClone) -> None:
        super().__init__(clone.registry_dir)
        self.clone = clone

    def full(self) -> Registry:
        with self.clone.lock:
            return super().full()

    def tenant(self, org_id: int) -> Tenant | None:
        with self.clone.lock:
            return super().tenant(org_id)

    def catalogues(self) -> Registry:
        with self.clone.lock:
            return super().catalogues()


class RegistryCommits:
    def __init__(self, clone: RegistryClone, registry: RegistryAccess) -> None:
        self.clone = clone
        self.registry = registry

    def start(self) -> str:
        """Clone (first start) or fetch; the branch head."""
        return self.clone.ensure()

    def publish(
        self, request_id: Any, action: str, org_id: int, plan: Callable[[Tenant | None], Change]
    ) -> tuple[Change, Published]:
        """Plan the request on the branch head, commit and push it; `Rejected` from `plan` pushes nothing."""
        planned: list[Change] = []

        def change(work_tree: Path) -> Edit:
            current = self.registry.tenant(org_id)
            done = plan(current)
            planned.append(done)
            self.registry.write(done.tenant)
            path = tenant_path(self.registry.directory, org_id)
            return Edit([self._relative(path)], commit_message(action, org_id, done, request_id))

        published = self.clone.publish(change)
        return planned[-1], published

    def revert(self, request_id: Any, action: str, org_id: int, commit: str, reason: str) -> Published | None:
        """Put the tenant file back as it was before `commit`, unless it changed again since; None: left alone."""
        path = self._relative(tenant_path(self.registry.directory, org_id))
        before = self.clone.file_at(f"{commit}^", path)
        after = self.clone.file_at(commit, path)
        marker = f"revert {action} org {org_id} {request_marker(request_id)}"
        outcome: list[str] = []

        def change(work_tree: Path) -> Edit:
            target = work_tree / path
            current = target.read_bytes() if target.exists() else None
            if self.clone.find_commit(marker) is not None:
                outcome.append("already reverted")
                return Edit([], "")
            if current != after:
                outcome.append("the file changed again since")
                return Edit([], "")
            if before is None:
                target.unlink()
            else:
                target.write_bytes(before)
            return Edit([path], f"{marker}: {_one_line(reason)}")

        published = self.clone.publish(change)
        if published.commit is None:
            log.info("request %s: its change to org %s was not reverted (%s)", request_id, org_id, ", ".join(outcome))
            return None
        return published

    @contextmanager
    def snapshot(self) -> Iterator[tuple[str, Path]]:
        """The branch head (fetched now) and a snapshot of its registry directory, removed afterwards."""
        head = self.clone.refresh()
        with tempfile.TemporaryDirectory(prefix="railzway-apply-") as tmp:
            yield head, self.clone.extract(head, Path(tmp))

    def _relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.clone.work_tree.resolve()).as_posix()


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 200 else line[:197] + "..."
