"""The six settings a tenant's container gets, and its connection URL. Pure: no Pulumi, no network.

The seed's containers read DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD and DATABASE_URL; the
component stores exactly these in the tenant's Nomad variable, and the job template turns them into the
task's environment.
"""

from __future__ import annotations

from urllib.parse import quote

from railzway.tenant.spec import VARIABLE_ITEMS

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def database_url(user: str, password: str, host: str, port: int, database: str, sslmode: str) -> str:
    """`postgres://user:password@host:port/database?sslmode=...`, every part percent-encoded.

    Generated passwords are URL-safe already (`rules.PASSWORD_ALPHABET`); encoding anyway means a password
    set by other means can never change the URL's meaning. An IPv6 host is bracketed.
    """
    if sslmode not in SSLMODES:
        raise ValueError(f"sslmode {sslmode!r} is not one of {', '.join(SSLMODES)}")
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is not a TCP port")
    netloc_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return f"postgres://{auth}@{netloc_host}:{port}/{quote(database, safe='')}?sslmode={sslmode}"


def env_items(*, host: str, port: int, database: str, user: str, password: str, sslmode: str) -> dict[str, str]:
    """The tenant's environment, keyed by `spec.VARIABLE_ITEMS` (all values are strings)."""
    items = {
        "DB_HOST": host,
        "DB_PORT": str(port),
        "DB_NAME": database,
        "DB_USER": user,
        "DB_PASSWORD": password,
        "DATABASE_URL": database_url(user, password, host, port, database, sslmode),
    }
    assert tuple(items) == VARIABLE_ITEMS
    return items
