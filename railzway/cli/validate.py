"""`railzway validate [DIR]`: the check a pull request runs before `pulumi preview`."""

from __future__ import annotations

import enum
from collections import Counter
from pathlib import Path

import typer

from railzway.cli.common import CommandError, console_err
from railzway.loader import Problem, RegistryError, check_registry
from railzway.model import Registry
from railzway.removals import removal_problems


class Format(enum.StrEnum):
    text = "text"
    github = "github"


def validate(
    directory: Path = typer.Argument(Path("tenants"), help="The registry directory."),
    format: Format = typer.Option(Format.text, "--format", help="github: GitHub Actions annotations on stdout."),
    base: str | None = typer.Option(
        None,
        "--base",
        metavar="REV",
        help="The git revision this change starts from: a tenant may leave the registry only once it was "
        "terminated there.",
    ),
) -> None:
    """Check the tenants registry, listing every problem."""
    registry, problems = check_registry(directory)
    if base is not None and registry is not None:
        removed = _removals(directory, base, registry)
        problems = [*problems, *removed]
        if removed:
            registry = None
    for problem in problems:
        if format is Format.github:
            print(problem.github())
        else:
            console_err(problem.text())
    errors = sum(1 for p in problems if p.severity == "error")
    if registry is None:
        raise CommandError(f"{directory}: {errors} problem{'s' * (errors != 1)} found", 1)
    statuses = Counter(t.status for t in registry.tenants.values())
    shards = sum(r.shards for r in registry.regions.regions.values())
    print(
        f"{directory}: valid: {len(registry.tenants)} tenants "
        f"({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))}) "
        f"in {len(registry.regions.regions)} regions, {shards} shards, {len(registry.tiers.tiers)} tiers"
    )


def _removals(directory: Path, base: str, registry: Registry) -> list[Problem]:
    # Imported here: reading a revision needs git, which a plain `validate` never runs.
    from railzway.fleet.revisions import RevisionError, registry_at_revision

    try:
        base_registry = registry_at_revision(directory, base)
    except (RevisionError, RegistryError) as e:
        raise CommandError(f"{directory}: cannot read the registry at --base {base}: {e}", 1) from None
    return removal_problems(base_registry, registry, directory, base)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
