"""`fleet --changed-only` against what each stack recorded: a stack runs when its tenants at the head differ
from its tenants at the revision it last applied, when the program or the stack's settings changed since
that revision, or when it recorded none.

Comparing with the previous commit instead would miss a deploy that failed or never ran, and would run a
stack again for a commit the service already applied; the recorded revision gets both right.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from railzway.fleet.selection import Selection, select_stacks
from railzway.registry.at_revision import RevisionError
from railzway.registry.model import Registry


@dataclass(frozen=True)
class Recorded:
    """The stacks to run, and why each one runs (for the operator's log)."""

    selection: Selection
    reasons: dict[str, str]


def changed_since_recorded(
    head: Registry,
    environment: str,
    recorded: Mapping[str, str],
    registry_at: Callable[[str], Registry | None],
    globs: Sequence[str] = (),
    program_changed_since: Callable[[str, str], bool] | None = None,
) -> Recorded:
    """The stacks of `head`'s scheme (narrowed by `globs`) whose tenants changed since their recorded revision.

    `recorded` maps stack names to commits; `registry_at(commit)` reads the registry there (None: it did not
    exist), raising `RevisionError` for a commit this checkout does not have (the stack then runs).
    `program_changed_since(commit, stack name)` says whether the program or that stack's settings changed
    between the commit and the head.
    """
    candidates = select_stacks(head, environment, globs).stacks
    cache: dict[str, Registry | None] = {}
    chosen = []
    reasons: dict[str, str] = {}
    for stack in candidates:
        revision = recorded.get(stack.name)
        if revision is None:
            chosen.append(stack)
            reasons[stack.name] = "no revision recorded"
            continue
        if revision not in cache:
            try:
                cache[revision] = registry_at(revision)
            except RevisionError:
                chosen.append(stack)
                reasons[stack.name] = f"recorded revision {revision[:12]} is not in this checkout"
                continue
        base = cache[revision]
        changed = select_stacks(head, environment, [stack.name], base=base, changed_only=True).stacks
        if changed:
            chosen.append(stack)
            reasons[stack.name] = f"tenants changed since {revision[:12]}"
        elif program_changed_since is not None and program_changed_since(revision, stack.name):
            chosen.append(stack)
            reasons[stack.name] = f"the program or the stack's settings changed since {revision[:12]}"
    return Recorded(Selection(tuple(chosen)), reasons)
