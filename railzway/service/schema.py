"""What the provisioning service adds to the Cloud DB schema, as steps for `railzway.clouddb.migrate`.

`python -m railzway migrate` applies `SCHEMA_STEPS` after the Cloud DB's own migrations, under the same
advisory lock, so one command prepares a Cloud DB for the service:

1. procrastinate's schema (its jobs, workers and events tables and functions), from the installed package;
2. our request tables, as golang-migrate files with their own version table.

procrastinate ships one schema file for new databases and separate pre/post migration files for upgrades
between its versions, meant to be applied around a deploy. We install the schema once and record the
version; a Cloud DB installed by another procrastinate version is refused with instructions rather than
migrated blindly.
"""

from __future__ import annotations

import importlib.metadata
from importlib import resources

import psycopg
from procrastinate.schema import SchemaManager

from railzway.clouddb.migrate import FunctionStep, MigrationError, MigrationSource

QUEUE_VERSION_TABLE = "railzway_queue_schema"

SERVICE = MigrationSource(
    "service", resources.files("railzway.service.migrations"), table="railzway_service_schema_migrations"
)
"""The service's request tables."""


def procrastinate_version() -> str:
    return importlib.metadata.version("procrastinate")


def apply_queue_schema(conn: psycopg.Connection) -> list[str]:
    """Install procrastinate's schema unless it is there; refuse one of another procrastinate version.

    `conn` is in autocommit mode under the migrate lock (see `railzway.clouddb.migrate.migrate`); the
    schema and its version row are committed together.
    """
    wanted = procrastinate_version()
    with conn.transaction():
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {QUEUE_VERSION_TABLE} (version varchar(32) NOT NULL, "
            "installed_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute(f"SELECT version FROM {QUEUE_VERSION_TABLE} LIMIT 1").fetchone()
        present = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if row is not None:
            if row[0] != wanted:
                raise MigrationError(
                    f"queue: the Cloud DB holds procrastinate {row[0]}'s schema and this program uses {wanted}: "
                    f"apply procrastinate's migrations between them (`procrastinate schema --migrations-path`), "
                    f"then UPDATE {QUEUE_VERSION_TABLE} SET version = '{wanted}'"
                )
            return []
        if present and present[0]:
            raise MigrationError(
                "queue: procrastinate's tables exist but were not installed by `railzway migrate`: record their "
                f"version with INSERT INTO {QUEUE_VERSION_TABLE} (version) VALUES ('<procrastinate version>')"
            )
        # procrastinate's own SQL file, run as a script: without parameters psycopg sends it as it is.
        conn.execute(SchemaManager.get_schema())
        conn.execute(f"INSERT INTO {QUEUE_VERSION_TABLE} (version) VALUES (%s)", (wanted,))
    return [f"procrastinate {wanted} schema"]


QUEUE = FunctionStep("queue", apply_queue_schema)
"""procrastinate's tables."""

SCHEMA_STEPS = (QUEUE, SERVICE)
"""Everything the service needs after the Cloud DB's own migrations, in order."""
