"""Which files decide what a stack's `pulumi up` does, besides its tenants.

A merge that changes the component (a new grant, another connection limit), the policy rules, the pinned
provider versions or a stack's own settings changes what `up` does to every stack it reaches, although no
tenant file changed. `fleet --changed-only` compares tenants; without this, such a merge would deploy to no
stack at all and the fleet would keep the old program until some tenant of each stack happened to change.

The program's files are found, not listed: the import closure of `__main__.py` and of the policy pack's
entry inside the project (a module the program starts importing is counted by the change that imports it),
plus the project's settings and pins. `program_changed` is the pure decision over a set of changed paths.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterable
from pathlib import Path

# What the engine runs: the program and the policy pack (their Python is followed through its imports).
ENTRY_POINTS = ("__main__.py", "policy/__main__.py")
# What they run with: the project file, the SDK and provider pins, the pack's own pins and settings.
SETTINGS = ("Pulumi.yaml", "requirements.txt", "policy/requirements.txt", "policy/PulumiPolicy.yaml")
# The project's own top-level packages; anything else a module imports comes from the virtualenv.
PROJECT_PACKAGES = ("railzway", "components")


def program_files(project: Path) -> frozenset[Path]:
    """Every file of `project` that the program or the policy pack runs, resolved."""
    root = project.resolve()
    found: set[Path] = {root / name for name in SETTINGS}
    queue = [root / entry for entry in ENTRY_POINTS if (root / entry).is_file()]
    while queue:
        path = queue.pop()
        if path in found:
            continue
        found.add(path)
        queue.extend(_imported_files(root, path))
    return frozenset(p for p in found if p.is_file())


def stack_settings(project: Path, stack: str) -> Path:
    """The stack's own settings file (its regions, shards, registry directory)."""
    return project.resolve() / f"Pulumi.{stack}.yaml"


def program_changed(changed: Collection[Path], program: Collection[Path], stack_settings_file: Path) -> bool:
    """Whether any changed file is part of the program, or the stack's own settings."""
    return stack_settings_file in changed or any(path in program for path in changed)


def _imported_files(root: Path, path: Path) -> Iterable[Path]:
    """The project files `path` imports: each module and every package `__init__.py` on the way to it."""
    for module in _imported_modules(path):
        parts = module.split(".")
        if parts[0] not in PROJECT_PACKAGES:
            continue
        for depth in range(1, len(parts) + 1):
            base = root.joinpath(*parts[:depth])
            yield from (p for p in (base / "__init__.py", base.with_suffix(".py")) if p.is_file())


def _imported_modules(path: Path) -> Iterable[str]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            # `from railzway.tenant import spec` imports the module `railzway.tenant.spec`.
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
