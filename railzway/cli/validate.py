"""`railzway validate [DIR]`: the check a pull request runs before `pulumi preview`."""

from __future__ import annotations

import enum
from collections import Counter
from pathlib import Path

import typer

from railzway.cli.common import CommandError, console_err
from railzway.loader import check_registry


class Format(enum.StrEnum):
    text = "text"
    github = "github"


def validate(
    directory: Path = typer.Argument(Path("tenants"), help="The registry directory."),
    format: Format = typer.Option(Format.text, "--format", help="github: GitHub Actions annotations on stdout."),
) -> None:
    """Check the tenants registry, listing every problem."""
    registry, problems = check_registry(directory)
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


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
