"""A tenant's password: how it is generated and what it must look like, and the adoption marker.

The rest of what a tenant is (role, database, grant, variable, job, outputs) is `railzway.tenant.spec`.
"""

from __future__ import annotations

import re
import string

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


def password_problem(password: str) -> str | None:
    """Why `password` is not an acceptable generated tenant password, or None."""
    if len(password) < PASSWORD_LENGTH:
        return f"is {len(password)} characters; at least {PASSWORD_LENGTH} are required"
    if not _PASSWORD_RE.fullmatch(password):
        return "contains characters that are not URL- and shell-safe (letters, digits, '-', '_', '.', '~')"
    return None
