"""Each stack's recorded revision against the registry branch head: what `GET /v1/stacks` and
`fleet status` show, and what the service's reconcile acts on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from railzway.clouddb import StackRevision
from railzway.registry.git import Drift, Git, GitError, drift, is_ancestor


@dataclass(frozen=True)
class StackStatus:
    stack: str
    recorded: StackRevision | None
    head: str | None
    drift: Drift | None
    """None when it cannot be worked out (nothing recorded, no git, or a revision the branch does not hold)."""
    note: str | None = None

    @property
    def current(self) -> bool:
        return self.drift is not None and self.drift.behind == 0

    def text(self) -> str:
        if self.note:
            return self.note
        assert self.drift is not None
        return self.drift.text()

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "revision": None if self.recorded is None else self.recorded.revision,
            "applied_at": None if self.recorded is None else self.recorded.applied_at.isoformat(),
            "applied_by": None if self.recorded is None else self.recorded.applied_by,
            "head": self.head,
            "behind": None if self.drift is None else self.drift.behind,
            "tenants_changed": [] if self.drift is None else list(self.drift.orgs),
            "drift": self.text(),
        }


def stack_statuses(
    git: Git | None,
    head: str | None,
    recorded: Mapping[str, StackRevision],
    stacks: Iterable[str],
    registry: str = "tenants",
) -> list[StackStatus]:
    """One status per stack of `stacks` and per stack with a recorded revision, by name."""
    statuses = []
    for name in sorted({*stacks, *recorded}):
        mine = recorded.get(name)
        if mine is None:
            statuses.append(StackStatus(name, None, head, None, "no revision recorded: never applied by a recorded up"))
        elif git is None or head is None:
            statuses.append(StackStatus(name, mine, head, None, "unknown: no registry git checkout to compare with"))
        else:
            statuses.append(_compared(git, head, name, mine, registry))
    return statuses


def _compared(git: Git, head: str, name: str, mine: StackRevision, registry: str) -> StackStatus:
    try:
        if not is_ancestor(git, mine.revision, head):
            return StackStatus(
                name, mine, head, None, f"diverged: {mine.revision[:12]} is not on the branch up to {head[:12]}"
            )
        return StackStatus(name, mine, head, drift(git, mine.revision, head, registry))
    except GitError:
        return StackStatus(
            name, mine, head, None, f"unknown: {mine.revision[:12]} is not in this checkout (git fetch?)"
        )
