"""`railzway audit`: is every tenant on the server as the registry says, and isolated from every other?"""

from __future__ import annotations

import enum
import os
from pathlib import Path

import typer

from railzway.audit import render
from railzway.audit.errors import CannotRun
from railzway.audit.run import registry_or_cannot_run, run_audit
from railzway.cli.common import ADMIN_URL_OPTION, CommandError

EXIT_CANNOT_RUN = 2


class Format(enum.StrEnum):
    text = "text"
    json = "json"


def audit(
    admin_url: str = ADMIN_URL_OPTION,
    registry: Path = typer.Option(..., "--registry", metavar="DIR", help="The tenants registry directory."),
    region: str | None = typer.Option(None, "--region", metavar="R", help="Audit only this region's tenants."),
    format: Format = typer.Option(Format.text, "--format", help="text for people, json for scripts."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on configuration warnings too."),
    login_matrix: bool = typer.Option(
        False,
        "--login-matrix",
        help="Also log in as each tenant (passwords from the Cloud DB: RAILZWAY_CLOUD_DB_URL, "
        "RAILZWAY_CREDENTIALS_KEYS) to its own and to other tenants' databases.",
    ),
) -> None:
    """Check the live server against the registry: exit 0 clean, 1 findings, 2 the audit could not run."""
    try:
        loaded = registry_or_cannot_run(registry)
        result = run_audit(admin_url, loaded, region, login_matrix=login_matrix, environ=os.environ)
    except CannotRun as e:
        raise CommandError(e.message, EXIT_CANNOT_RUN) from None
    print(render.to_json(result) if format is Format.json else render.to_text(result))
    code = result.exit_code(strict)
    if code:
        raise CommandError(render.failure(result, strict), code)


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
