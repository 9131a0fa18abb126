"""Connecting to the server under audit without ever showing its password.

An admin URL usually carries the superuser's password, and libpq quotes parts of a bad connection string
back in its errors, so every message that leaves this module is scrubbed of the password, whatever the
form of the URL (`postgresql://user:secret@host/db` or `host=... password=secret`).
"""

from __future__ import annotations

import re
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict

from railzway.admin import sessions as admin_session
from railzway.audit.errors import CannotRun

MASK = "***"
CONNECT_TIMEOUT_S = 10
_URL_PASSWORD_RE = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)
_RAW_URL_PASSWORD_RE = re.compile(r"^postgres(?:ql)?://[^:/@\s]*:([^@\s]+)@", re.IGNORECASE)
_KEYWORD_PASSWORD_RE = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def password_of(url: str) -> str | None:
    """The password written in a libpq URL or keyword string, or None (PGPASSWORD is not read here)."""
    try:
        value = conninfo_to_dict(url).get("password")
    except psycopg.Error:
        return None
    return str(value) if value else None


def scrub(text: str, url: str) -> str:
    """`text` with the password of `url` (in any spelling libpq accepts) replaced by `***`."""
    secrets = {password_of(url)}
    # A URL libpq cannot parse still has a password between "user:" and "@", which its error may quote.
    raw = _RAW_URL_PASSWORD_RE.match(url.strip())
    if raw:
        secrets.add(raw.group(1))
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        for spelling in {secret, quote(secret, safe=""), quote(secret)}:
            text = text.replace(spelling, MASK)
    text = _URL_PASSWORD_RE.sub(rf"\g<1>{MASK}@", text)
    return _KEYWORD_PASSWORD_RE.sub(rf"\g<1>{MASK}", text)


def connect(url: str, application_name: str) -> psycopg.Connection:
    """An autocommit admin connection to `url` that no tenant setting can steer (`connect_admin`), or
    `CannotRun` with a scrubbed, one-line reason."""
    try:
        return admin_session.connect_admin(
            url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name=application_name
        )
    except psycopg.Error as e:
        reason = " ".join(str(e).split())
        raise CannotRun(f"cannot connect to the server ({scrub(reason, url)})") from None


def describe(conn: psycopg.Connection) -> str:
    """`user@host:port/db` of an open connection: what the operator needs to know, minus the secret."""
    info = conn.info
    return f"{info.user}@{info.host}:{info.port}/{info.dbname}"
