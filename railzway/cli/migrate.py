"""`railzway migrate [--status | --force VERSION]`: bring the Cloud DB schema up to date."""

from __future__ import annotations

import importlib

import typer

from railzway.cli.common import CommandError
from railzway.clouddb import CLOUD_DB, CloudDBUnavailable, MigrationError, SchemaStep, cloud_db_url, connect
from railzway.clouddb import force as force_version
from railzway.clouddb import migrate as run_migrations
from railzway.clouddb import status as schema_status

# Schema that other packages keep in the Cloud DB, as "module:attribute" naming a SchemaStep (anything with
# a `name` and an idempotent `apply(conn) -> list[str]`). They run after the Cloud DB's own migrations,
# in this order, under the same lock, so one `migrate` prepares the whole Cloud DB.
EXTRA_SCHEMA_STEPS: tuple[str, ...] = ("railzway.service.schema:QUEUE", "railzway.service.schema:SERVICE")


def schema_steps() -> list[SchemaStep]:
    """The Cloud DB's migrations, then every step named in EXTRA_SCHEMA_STEPS."""
    steps: list[SchemaStep] = [CLOUD_DB]
    for reference in EXTRA_SCHEMA_STEPS:
        module, _, attribute = reference.partition(":")
        steps.append(getattr(importlib.import_module(module), attribute))
    return steps


def migrate(
    status: bool = typer.Option(
        False, "--status", help="Print the schema version and whether it is dirty; change nothing."
    ),
    force: str | None = typer.Option(
        None,
        "--force",
        metavar="VERSION",
        help="After repairing a dirty schema by hand: record VERSION (or 'none') as applied and clean.",
    ),
) -> None:
    """Bring the Cloud DB schema up to date (safe to run twice, and from two processes at once)."""
    if status and force is not None:
        raise CommandError("--status and --force cannot be combined", 2)
    try:
        with connect(cloud_db_url(), application_name="railzway migrate") as conn:
            if status:
                version, dirty = schema_status(conn)
                print(f"version: {'none' if version is None else version}")
                print(f"dirty: {'true' if dirty else 'false'}")
                print(f"latest: {CLOUD_DB.latest()}")
                return
            if force is not None:
                target = _version(force)
                force_version(conn, target)
                print(f"{CLOUD_DB.name}: recorded version {force} as applied and clean; run `railzway migrate` next")
                return
            applied = run_migrations(conn, schema_steps())
            version, _ = schema_status(conn)
    except CloudDBUnavailable as e:
        raise CommandError(str(e), 2) from None
    except MigrationError as e:
        raise CommandError(str(e), 1) from None
    for step, labels in applied.items():
        if labels:
            print(f"{step}: applied {', '.join(labels)}")
        else:
            print(f"{step}: up to date")
    print(f"version: {version}")


def _version(text: str) -> int | None:
    if text.strip().lower() == "none":
        return None
    if not text.strip().isdigit():
        raise CommandError(f"--force takes a migration version number or 'none', not {text!r}", 2)
    return int(text)


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)
