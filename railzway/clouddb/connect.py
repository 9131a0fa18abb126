"""Where the Cloud DB is: `RAILZWAY_CLOUD_DB_URL`, and a connection to it that never shows its password."""

from __future__ import annotations

import os
from collections.abc import Mapping

import psycopg

URL_ENV = "RAILZWAY_CLOUD_DB_URL"


class CloudDBUnavailable(RuntimeError):
    """The Cloud DB is not configured or does not answer (the message never contains the URL)."""


def cloud_db_url(environ: Mapping[str, str] = os.environ) -> str:
    url = environ.get(URL_ENV, "").strip()
    if not url:
        raise CloudDBUnavailable(
            f"{URL_ENV} is not set: the Cloud DB's connection URL, for instance "
            "postgresql://railzway@clouddb.internal:5432/railzway_cloud (password in PGPASSWORD or ~/.pgpass)"
        )
    return url


def connect(url: str, application_name: str = "railzway") -> psycopg.Connection:
    """A connection to the Cloud DB; `application_name` lets an operator find it in pg_stat_activity."""
    try:
        return psycopg.connect(url, application_name=application_name, connect_timeout=10)
    except psycopg.OperationalError as e:
        # libpq's message names host, port and user, never the password; the URL itself is not repeated.
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CloudDBUnavailable(f"cannot connect to the Cloud DB ({URL_ENV}): {reason}") from None
    except (psycopg.Error, ValueError):
        # A parse error quotes the offending part of the URL, which may be the password: say only where.
        raise CloudDBUnavailable(f"{URL_ENV} is not a valid libpq connection URL") from None


def database_error(error: psycopg.Error) -> str:
    """A server error in one line without its DETAIL, which can quote a whole row (ciphertexts included)."""
    primary = error.diag.message_primary or type(error).__name__
    return f"{primary} (SQLSTATE {error.sqlstate})" if error.sqlstate else primary
