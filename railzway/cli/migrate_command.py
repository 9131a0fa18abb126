"""`railzway migrate [--status | --force VERSION [--source SOURCE] [--yes]]`: the Cloud DB schema up to date."""

from __future__ import annotations

import psycopg
import typer

from railzway.cli.common import CommandError
from railzway.clouddb import (
    CLOUD_DB,
    CloudDBUnavailable,
    MigrationError,
    MigrationSource,
    SchemaStep,
    cloud_db_url,
    connect,
)
from railzway.clouddb import force as force_version
from railzway.clouddb import migrate as run_migrations
from railzway.clouddb import status as schema_status


def schema_steps() -> list[SchemaStep]:
    """The Cloud DB's own migrations, then the service's schema (its queue and request tables), in order,
    all under the one lock, so one `migrate` prepares the whole Cloud DB."""
    # Imported here rather than at the top: procrastinate adds a quarter of a second to every other command.
    from railzway.service.schema import SCHEMA_STEPS

    return [CLOUD_DB, *SCHEMA_STEPS]


def version_sources() -> dict[str, MigrationSource]:
    """The steps that keep a golang-migrate version table, by name: what `--force --source` may act on."""
    return {step.name: step for step in schema_steps() if isinstance(step, MigrationSource)}


def migrate(
    status: bool = typer.Option(
        False, "--status", help="Print each schema's version and whether it is dirty; change nothing."
    ),
    force: str | None = typer.Option(
        None,
        "--force",
        metavar="VERSION",
        help="After repairing a dirty schema by hand: record VERSION (or 'none') as applied and clean.",
    ),
    source_name: str = typer.Option(
        CLOUD_DB.name,
        "--source",
        metavar="SOURCE",
        help="With --force: the schema whose version table to set, as the error named it (cloud-db or service).",
    ),
    yes: bool = typer.Option(
        False, "--yes", help="With --force: also force a schema that is not dirty (it runs no migration)."
    ),
) -> None:
    """Bring the Cloud DB schema up to date (safe to run twice, and from two processes at once)."""
    if status and force is not None:
        raise CommandError("--status and --force cannot be combined", 2)
    sources = version_sources()
    if force is None and (yes or source_name != CLOUD_DB.name):
        raise CommandError("--source and --yes go with --force", 2)
    if source_name not in sources:
        raise CommandError(f"--source must be one of {', '.join(sources)}, not {source_name!r}", 2)
    target = None if force is None else _version(force)
    try:
        with connect(cloud_db_url(), application_name="railzway migrate") as conn:
            if status:
                _print_status(conn, sources)
                return
            if force is not None:
                _force(conn, sources[source_name], target, force, yes)
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


def _print_status(conn: psycopg.Connection, sources: dict[str, MigrationSource]) -> None:
    version, dirty = schema_status(conn)
    print(f"version: {_version_arg(version)}")
    print(f"dirty: {'true' if dirty else 'false'}")
    print(f"latest: {CLOUD_DB.latest()}")
    for name, source in sources.items():
        if source is not CLOUD_DB:
            version, dirty = source.status(conn)
            print(
                f"{name}: version {_version_arg(version)}, dirty {'true' if dirty else 'false'}, latest {source.latest()}"
            )


def _force(conn: psycopg.Connection, source: MigrationSource, target: int | None, text: str, yes: bool) -> None:
    """golang-migrate's `force` on `source`: at once on a dirty schema, with --yes on a clean one."""
    version, dirty = source.status(conn)
    conn.rollback()  # only read: `force` needs the connection idle
    print(
        f"{source.name}: at version {_version_arg(version)}, {'dirty' if dirty else 'clean'} (latest {source.latest()})"
    )
    if not dirty and not yes:
        # On a clean schema, force only moves the bookkeeping away from what is really there: the next
        # `migrate` re-runs migrations that were applied, or skips ones that were not.
        raise CommandError(
            f"{source.name}: the schema is not dirty, so --force {text} would record a version without running "
            f"anything; nothing was changed. Add --yes if that is what you mean",
            1,
        )
    force_version(conn, target, source)
    print(f"{source.name}: recorded version {text} as applied and clean; run `railzway migrate` next")


def _version_arg(version: int | None) -> str:
    return "none" if version is None else str(version)


def _version(text: str) -> int | None:
    if text.strip().lower() == "none":
        return None
    if not text.strip().isdigit():
        raise CommandError(f"--force takes a migration version number or 'none', not {text!r}", 2)
    return int(text)


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)
