"""`railzway validate [DIR]`: the check a pull request runs before `pulumi preview`."""

from __future__ import annotations

import datetime as dt
import enum
from collections import Counter
from pathlib import Path

import typer

from railzway.cli.common import CommandError, console_err
from railzway.registry.at_revision import RevisionError, registry_at_revision
from railzway.registry.loader import Problem, RegistryError, check_registry, past_downgrades
from railzway.registry.model import Registry
from railzway.registry.removals import removal_problems


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
        help="The git revision a change starts from (a PR's base): refuse what the change introduces, such as "
        "a downgrade dated in the past, or a tenant leaving the registry before it was terminated there.",
    ),
) -> None:
    """Check the tenants registry, listing every problem."""
    registry, problems = check_registry(directory)
    if registry is not None:
        today = dt.datetime.now(dt.UTC).date()
        base_registry = _base(directory, base)
        problems += past_downgrades(directory, registry, today, base_registry)
        if base is not None and base_registry is not None:
            removed = removal_problems(base_registry, registry, directory, base)
            problems += removed
            if removed:
                registry = None
    for problem in problems:
        if format is Format.github:
            print(problem.github())
        else:
            console_err(problem.text())
    errors = sum(1 for p in problems if p.severity == "error")
    if registry is None or errors:
        raise CommandError(f"{directory}: {errors} problem{'s' * (errors != 1)} found", 1)
    print(f"{directory}: valid: {_summary(registry)}")


def _summary(registry: Registry) -> str:
    statuses = Counter(t.status for t in registry.tenants.values())
    shards = sum(r.shards for r in registry.regions.regions.values())
    tenants = (
        f"{len(registry.tenants)} tenant{'s' * (len(registry.tenants) != 1)} "
        f"({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))})"
        if registry.tenants
        else "no tenants yet"
    )
    return f"{tenants} in {len(registry.regions.regions)} regions, {shards} shards, {len(registry.tiers.tiers)} tiers"


def _base(directory: Path, revision: str | None) -> Registry | None:
    if revision is None:
        return None
    try:
        return registry_at_revision(directory, revision)
    except RevisionError as e:
        raise CommandError(f"--base {revision}: {e}", 2) from None
    except RegistryError as e:
        first: Problem = e.problems[0]
        raise CommandError(f"--base {revision}: the registry there is invalid: {first.brief()}", 2) from None


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
