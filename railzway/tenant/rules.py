"""The security facts about a tenant, written once.

The component declares resources from these values, the policy pack checks declared resources against
them, and the audit checks the live server against them, so the three cannot drift apart.
"""

from __future__ import annotations

import re
import string

# A tenant role is an ordinary login role: every privilege flag is explicitly off. Keys are the Python
# argument names of `pulumi_postgresql.Role`; values are the wire (camelCase) names the engine, the mocks
# and the policy pack see, and then the pg_roles column the audit reads.
ROLE_PRIVILEGE_FLAGS: dict[str, tuple[str, str]] = {
    "superuser": ("superuser", "rolsuper"),
    "create_database": ("createDatabase", "rolcreatedb"),
    "create_role": ("createRole", "rolcreaterole"),
    "replication": ("replication", "rolreplication"),
    "bypass_row_level_security": ("bypassRowLevelSecurity", "rolbypassrls"),
}

# 32 characters that are safe unquoted in a URL's userinfo and in a shell word. `random.RandomPassword`
# draws from letters, digits and these specials; "-" and "_" are enough entropy and never need escaping.
PASSWORD_LENGTH = 32
PASSWORD_SPECIALS = "-_"  # noqa: S105 - an alphabet, not a password
PASSWORD_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_.~")
_PASSWORD_RE = re.compile(r"[A-Za-z0-9._~-]+")

# `password_rotation: adopted` marks a tenant adopted from the Go control plane whose password has not been
# rotated since: its password is the seed's, read from the Cloud DB, not a `RandomPassword` of ours. Changing
# the value (to anything else) is the first rotation and hands the password to a `RandomPassword`.
ADOPTED_PASSWORD_ROTATION = "adopted"  # noqa: S105 - a marker, not a password

# The environment a tenant's container receives from its Nomad variable.
CREDENTIAL_ENV_KEYS = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DATABASE_URL")

# PostgreSQL grants these to PUBLIC on every new database; a tenant database must not keep them.
PUBLIC_DATABASE_PRIVILEGES = ("CONNECT", "TEMPORARY")


def password_problem(password: str) -> str | None:
    """Why `password` is not an acceptable generated tenant password, or None."""
    if len(password) < PASSWORD_LENGTH:
        return f"is {len(password)} characters; at least {PASSWORD_LENGTH} are required"
    if not _PASSWORD_RE.fullmatch(password):
        return "contains characters that are not URL- and shell-safe (letters, digits, '-', '_', '.', '~')"
    return None


def database_connection_limit(status: str, tier_limit: int) -> int:
    """The CONNECTION LIMIT a tenant's database should have.

    A terminated tenant's database takes no connections: a limit of 0 refuses every role except
    superusers, so the admin (and the provider, which connects to manage the database's grants) can still
    reach the retained data. ALLOW_CONNECTIONS false would lock the admin out as well.
    """
    return 0 if status == "terminated" else tier_limit


# A role's password is unusable once its VALID UNTIL has passed. "-infinity" has passed for ever and, unlike
# a date, reads back from the server as the same text in every time zone (the provider compares the text).
PASSWORD_VALID_FOREVER = "infinity"  # noqa: S105 - a VALID UNTIL, not a password
PASSWORD_EXPIRED_FOREVER = "-infinity"  # noqa: S105 - a VALID UNTIL, not a password


def role_valid_until(status: str) -> str:
    """The VALID UNTIL of a tenant's role: a terminated tenant's password can never be used again."""
    return PASSWORD_EXPIRED_FOREVER if status == "terminated" else PASSWORD_VALID_FOREVER


def role_connection_limit(status: str, tier_limit: int) -> int:
    """The CONNECTION LIMIT of a tenant's role: none for a terminated tenant, its tier's otherwise."""
    return 0 if status == "terminated" else tier_limit
