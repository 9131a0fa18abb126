"""`railzway rekey`: re-encrypt every stored tenant password with the first key of RAILZWAY_CREDENTIALS_KEYS."""

from __future__ import annotations

import psycopg
import typer

from railzway.cli.common import CommandError, console_err
from railzway.clouddb import (
    CloudDBUnavailable,
    CredentialsKeyError,
    MigrationError,
    RekeyError,
    cloud_db_url,
    connect,
    database_error,
    load_keys,
    rekey,
)


def rekey_command() -> None:
    """Re-encrypt every stored password with the first key (and encrypt seed-era plain-text ones)."""
    try:
        keys = load_keys()
        with connect(cloud_db_url(), application_name="railzway rekey") as conn:
            summary = rekey(conn, keys)
    except (CredentialsKeyError, CloudDBUnavailable) as e:
        raise CommandError(str(e), 2) from None
    except MigrationError as e:
        raise CommandError(str(e), 1) from None
    except psycopg.Error as e:
        raise CommandError(f"the Cloud DB refused the rekey: {database_error(e)}; nothing was written", 1) from None
    except RekeyError as e:
        for problem in e.problems:
            console_err(problem)
        raise CommandError(
            f"{len(e.problems)} stored password(s) do not decrypt with the configured keys; nothing was changed", 1
        ) from None
    print(summary.text())


def register(app: typer.Typer) -> None:
    app.command("rekey")(rekey_command)
