"""Which stacks a fleet command runs: the scheme's stacks, narrowed by globs and by what changed."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from railzway.registry.model import Registry
from railzway.registry.shards import ShardStack, changed_stacks, stacks_of


class SelectionError(ValueError):
    """The selection names no stack, or names one the scheme does not have."""


@dataclass(frozen=True)
class Selection:
    """The stacks to run, and the changed stacks left out because the head registry no longer has them."""

    stacks: tuple[ShardStack, ...]
    retired: tuple[ShardStack, ...] = ()


def select_stacks(
    registry: Registry,
    environment: str,
    globs: Sequence[str] = (),
    *,
    base: Registry | None = None,
    changed_only: bool = False,
    program_changed: Callable[[str], bool] | None = None,
) -> Selection:
    """The scheme's stacks matching any of `globs` (all when none), and with `changed_only` only those
    whose tenants differ between `base` and `registry` (the head), or for which `program_changed(stack name)`
    says the program or the stack's settings changed in between (`railzway.fleet.program_files`)."""
    scheme = stacks_of(registry, environment)
    chosen = scheme
    if globs:
        for glob in globs:
            if not any(fnmatch.fnmatchcase(s.name, glob) for s in scheme):
                names = ", ".join(s.name for s in scheme)
                raise SelectionError(f"--stacks {glob!r} matches no stack of the scheme ({names})")
        chosen = [s for s in scheme if any(fnmatch.fnmatchcase(s.name, g) for g in globs)]
    if not changed_only:
        return Selection(tuple(chosen))
    changed = set(changed_stacks(base, registry, environment))
    in_scheme = set(scheme)
    retired = tuple(sorted(s for s in changed if s not in in_scheme))
    rerun = program_changed or (lambda _: False)
    return Selection(tuple(s for s in chosen if s in changed or rerun(s.name)), retired)
