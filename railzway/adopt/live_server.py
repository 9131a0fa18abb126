"""What a region's live PostgreSQL server holds of the seed's tenants: roles, databases, owners, passwords.

Read-only, two statements whatever the fleet size. The admin must be a superuser (as for the provider and
the audit): only superusers may read `pg_authid.rolpassword`, the verifier that tells whether the Cloud
DB's password is really the role's. The password is checked against the verifier in memory; it is never
sent to the server nor printed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Collection, Mapping

import psycopg

from railzway.adopt.plan import LiveTenant
from railzway.audit.connection import connect, describe
from railzway.audit.errors import CannotRun
from railzway.registry import naming


def read_server(url: str, org_ids: Collection[int], passwords: Mapping[int, str]) -> dict[int, LiveTenant]:
    """The org ids (of `org_ids`) that have a role or a database on the server at `url`, and what they have."""
    roles = [naming.role_name(org_id) for org_id in org_ids]
    databases = [naming.database_name(org_id) for org_id in org_ids]
    with connect(url, application_name="railzway-adopt") as conn:
        try:
            role_rows = conn.execute(
                "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)", (roles,)
            ).fetchall()
            database_rows = conn.execute(
                "SELECT d.datname, pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding) "
                "FROM pg_database AS d WHERE d.datname = ANY(%s)",
                (databases,),
            ).fetchall()
        except psycopg.errors.InsufficientPrivilege:
            raise CannotRun(
                f"{describe(conn)} is not a superuser: adopt reads pg_authid to check each Cloud DB password"
            ) from None
    verifiers = {naming.org_id_of_role(name): verifier for name, verifier in role_rows}
    owned = {naming.org_id_of_database(name): (owner, encoding) for name, owner, encoding in database_rows}
    found: dict[int, LiveTenant] = {}
    for org_id in org_ids:
        if org_id not in verifiers and org_id not in owned:
            continue
        owner, encoding = owned.get(org_id, (None, None))
        password = passwords.get(org_id)
        matches = None
        if org_id in verifiers and password is not None:
            matches = password_matches(naming.role_name(org_id), password, verifiers[org_id])
        found[org_id] = LiveTenant(
            role_exists=org_id in verifiers,
            database_owner=owner,
            database_encoding=encoding,
            password_matches=matches,
        )
    return found


def password_matches(role: str, password: str, verifier: str | None) -> bool:
    """Whether `password` logs `role` in, judged from its stored verifier (SCRAM-SHA-256 or md5).

    Written with hashlib because no maintained library we use checks a stored PostgreSQL verifier; these
    are the formulas of RFC 5802 / RFC 7677 (SCRAM) and of PostgreSQL's md5 scheme. A non-ASCII password
    would need SASLprep, which the Go control plane's generated passwords never need: it counts as no match.
    """
    if not verifier or not password.isascii():
        return False
    if verifier.startswith("SCRAM-SHA-256$"):
        try:
            _, params, keys = verifier.split("$")
            iterations_text, salt_b64 = params.split(":")
            stored_key_b64, _server_key = keys.split(":")
            salt, stored_key = base64.b64decode(salt_b64), base64.b64decode(stored_key_b64)
            iterations = int(iterations_text)
        except ValueError:
            return False
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)
    if verifier.startswith("md5"):
        expected = "md5" + hashlib.md5((password + role).encode(), usedforsecurity=False).hexdigest()
        return hmac.compare_digest(expected, verifier)
    return False
