"""`railzway adopt`: write registry files for the tenants the Go control plane provisioned."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from railzway.adopt.adoption import render, run_adoption
from railzway.audit.errors import CannotRun
from railzway.cli.common import REGISTRY_OPTION, CommandError, registry_or_fail

EXIT_CANNOT_RUN = 2


_URL_SCHEMES = ("postgresql://", "postgres://")


def _admin_urls(values: list[str], default_region: str | None) -> dict[str, str]:
    """`REGION=URL` options as a mapping; a bare URL is the registry's default region's."""
    urls: dict[str, str] = {}
    for value in values:
        region, _, url = value.partition("=")
        if url.startswith(_URL_SCHEMES) and not region.startswith(_URL_SCHEMES):
            urls[region.strip()] = url
        elif value.startswith(_URL_SCHEMES) and default_region is not None:
            urls[default_region] = value
        else:
            raise CommandError(
                "--admin-url: write REGION=postgresql://USER@HOST:PORT/DB (or the URL alone for the "
                "registry's default region)",
                1,
            )
    return urls


def _tier_map(values: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        seed_tier, sep, ours = value.partition("=")
        if not sep or not seed_tier.strip() or not ours.strip():
            raise CommandError(f"--tier-map {value!r}: write SEED=OURS, for instance PRO=growth", 1)
        pairs[seed_tier.strip().lower()] = ours.strip()
    return pairs


def adopt(
    admin_urls: list[str] = typer.Option(
        ...,
        "--admin-url",
        metavar="[REGION=]URL",
        help="libpq URL of a region's server admin (a superuser), once per region; without REGION= the "
        "registry's default region. Leave the password out and set PGPASSWORD.",
    ),
    registry_dir: Path = REGISTRY_OPTION,
    tier_map: list[str] = typer.Option(
        [],
        "--tier-map",
        metavar="SEED=OURS",
        help="Map a seed tier (case-insensitive; `none` for rows without one) onto a tier of tiers.yaml.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be written and imported; write nothing."),
) -> None:
    """Write registry files for the Go control plane's tenants (exit 1 when some are refused)."""
    registry = registry_or_fail(registry_dir)
    urls = _admin_urls(admin_urls, registry.regions.default)
    tiers = _tier_map(tier_map)
    try:
        result = run_adoption(registry_dir, registry, urls, tiers, dry_run=dry_run, environ=os.environ)
    except CannotRun as e:
        raise CommandError(e.message, EXIT_CANNOT_RUN) from None
    print(render(result, registry_dir))
    if result.plan.refused:
        refused = ", ".join(str(r.org_id) for r in result.plan.refused)
        raise CommandError(f"{len(result.plan.refused)} instance(s) refused: {refused}", 1)


def register(app: typer.Typer) -> None:
    app.command("adopt")(adopt)
