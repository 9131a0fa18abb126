"""The service's configuration, read once from the environment and checked before anything starts.

The contract names (`RAILZWAY_CLOUD_DB_URL`, `RAILZWAY_CREDENTIALS_KEYS`, `RAILZWAY_API_TOKENS`,
`RAILZWAY_REGISTRY_DIR`, and Pulumi's own `PULUMI_BACKEND_URL` / `PULUMI_CONFIG_PASSPHRASE`) are fixed; the
`RAILZWAY_SERVICE_*` knobs tune the queue and default to production values. Every error names the variable
and never echoes a value, since most of these values are secrets.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from railzway.clouddb.connect import URL_ENV as CLOUD_DB_URL_ENV
from railzway.clouddb.crypto import KEYS_ENV, CredentialsKeyError, KeyRing, parse_keys
from railzway.engine.stacks import ENVIRONMENT_ENV, STACK_ENV
from railzway.registry.git import has_password
from railzway.registry.location import REGISTRY_DIR_ENV

API_TOKENS_ENV = "RAILZWAY_API_TOKENS"
REGISTRY_REMOTE_ENV = "RAILZWAY_REGISTRY_REMOTE"
REGISTRY_BRANCH_ENV = "RAILZWAY_REGISTRY_BRANCH"
REGISTRY_AUTHOR_NAME_ENV = "RAILZWAY_REGISTRY_AUTHOR_NAME"
REGISTRY_AUTHOR_EMAIL_ENV = "RAILZWAY_REGISTRY_AUTHOR_EMAIL"
RECONCILE_ENV = "RAILZWAY_SERVICE_RECONCILE_MINUTES"
PASSPHRASE_ENV = "PULUMI_CONFIG_PASSPHRASE"  # noqa: S105 - a variable name
PULUMI_ACCESS_TOKEN_ENV = "PULUMI_ACCESS_TOKEN"  # noqa: S105 - a variable name
# Other secrets the process may hold in its environment (the engine and libpq read them themselves).
SECRET_ENV = (PASSPHRASE_ENV, PULUMI_ACCESS_TOKEN_ENV, "PGPASSWORD", "NOMAD_TOKEN")

# A bearer token shorter than this is guessable; `openssl rand -hex 32` gives 64 characters.
MIN_TOKEN_LENGTH = 16


class SettingsError(ValueError):
    """The environment does not configure a working service: every problem found, each naming its variable."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Tuning:
    """How the queue behaves. Production defaults; tests shorten the clocks to keep runs fast."""

    concurrency: int = 4
    """How many stacks one `serve` process updates at the same time (different stacks only)."""
    max_attempts: int = 5
    """Attempts per request before it is failed; a transient failure or a dead worker costs one."""
    retry_base_seconds: float = 5.0
    """Backoff after the n-th failed attempt: base * 2**(n-1), at most `retry_max_seconds`."""
    retry_max_seconds: float = 300.0
    heartbeat_seconds: float = 10.0
    """How often a worker tells the Cloud DB it is alive."""
    stalled_seconds: float = 30.0
    """A worker silent this long is dead: its running update is released and queued again."""
    recovery_every_seconds: int = 10
    """How often the stalled-job recovery runs (a divisor of 60)."""
    shutdown_grace_seconds: float = 25.0
    """On SIGTERM, how long running updates may finish before they are released to other workers."""
    poll_seconds: float = 2.0
    """Fallback polling interval of the worker (LISTEN/NOTIFY wakes it at once otherwise)."""


@dataclass(frozen=True)
class Settings:
    cloud_db_url: str = field(repr=False)
    keys: KeyRing = field(repr=False)
    api_tokens: tuple[str, ...] = field(repr=False)
    registry_dir: Path = Path("tenants")
    tuning: Tuning = field(default_factory=Tuning)
    registry_remote: str | None = field(default=None, repr=False)
    """`RAILZWAY_REGISTRY_REMOTE`: the registry's git remote. Set, `registry_dir` is the `tenants/` directory of
    the service's own clone of `registry_branch` (cloned into its parent directory on first start), and every
    request's change is a commit pushed there. Unset (a laptop, tests): the directory is written, no git."""
    registry_branch: str = "main"
    author: tuple[str, str] = ("Railzway provisioning service", "provisioning@railzway.invalid")
    """`RAILZWAY_REGISTRY_AUTHOR_NAME` / `_EMAIL`: who the service's commits are by."""
    reconcile_minutes: int = 10
    """`RAILZWAY_SERVICE_RECONCILE_MINUTES`: how often stacks behind the branch head get a reconcile request."""
    stack_env: Mapping[str, str] = field(default_factory=dict)
    """`RAILZWAY_STACK` / `RAILZWAY_ENVIRONMENT`: which stack holds a tenant (`railzway.engine.stacks.stack_for_tenant`)."""
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """Every configured secret value, so the log formatter can scrub them should one ever reach a log line."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """The settings, or one SettingsError listing every missing or malformed variable at once."""
        problems: list[str] = []

        def check(read: Callable[[], _T]) -> _T | None:
            try:
                return read()
            except SettingsError as e:
                problems.extend(e.problems)
                return None

        url = check(lambda: _cloud_db_url(environ))
        keys = check(lambda: _keys(environ))
        tokens = check(lambda: _tokens(environ))
        registry_dir = Path(environ.get(REGISTRY_DIR_ENV) or "tenants")
        remote = check(lambda: _registry_remote(environ))
        branch = check(lambda: _registry_branch(environ))
        author = (
            (environ.get(REGISTRY_AUTHOR_NAME_ENV) or Settings.author[0]).strip(),
            (environ.get(REGISTRY_AUTHOR_EMAIL_ENV) or Settings.author[1]).strip(),
        )
        reconcile = check(lambda: _reconcile_minutes(environ))
        if not environ.get(REGISTRY_REMOTE_ENV, "").strip() and not registry_dir.is_dir():
            problems.append(f"{REGISTRY_DIR_ENV}: {registry_dir} is not a directory (the tenants registry)")
        tuning = check(lambda: _tuning(environ))
        if problems:
            raise SettingsError(*problems)
        assert url is not None and keys is not None and tokens is not None and tuning is not None
        assert branch is not None and reconcile is not None
        secrets = [*tokens, *(k.strip() for k in environ[KEYS_ENV].split(",") if k.strip())]
        password = urlsplit(url).password
        if password:
            secrets.append(unquote(password))
        for name in SECRET_ENV:
            if environ.get(name):
                secrets.append(environ[name])
        return cls(
            cloud_db_url=url,
            keys=keys,
            api_tokens=tokens,
            registry_dir=registry_dir,
            registry_remote=remote,
            registry_branch=branch,
            author=author,
            reconcile_minutes=reconcile,
            tuning=tuning,
            stack_env={name: environ[name] for name in (STACK_ENV, ENVIRONMENT_ENV) if environ.get(name)},
            secrets=tuple(sorted(set(secrets), key=len, reverse=True)),
        )


_T = TypeVar("_T")
# The password stays out of the URL, as everywhere else: libpq reads it from PGPASSWORD.
CLOUD_DB_URL_HINT = "postgresql://USER@HOST:5432/DATABASE, with the password in PGPASSWORD"


def _registry_remote(environ: Mapping[str, str]) -> str | None:
    remote = (environ.get(REGISTRY_REMOTE_ENV) or "").strip() or None
    if remote is not None and has_password(remote):
        # Never echoed: the value holds a secret. git's credential helpers, SSH keys or GIT_ASKPASS instead.
        raise SettingsError(
            f"{REGISTRY_REMOTE_ENV} must not carry a password: give git its credentials through a credential "
            "helper, an SSH key or GIT_ASKPASS"
        )
    return remote


def _registry_branch(environ: Mapping[str, str]) -> str:
    branch = (environ.get(REGISTRY_BRANCH_ENV) or "main").strip()
    if not branch or branch.startswith("-") or any(c.isspace() for c in branch):
        raise SettingsError(f"{REGISTRY_BRANCH_ENV} must be a branch name, e.g. main")
    return branch


def _reconcile_minutes(environ: Mapping[str, str]) -> int:
    reconcile = _positive_int(environ, RECONCILE_ENV, Settings.reconcile_minutes)
    if reconcile > 59:
        raise SettingsError(f"{RECONCILE_ENV} must be at most 59 (a cron minute step), got {reconcile}")
    return reconcile


def _cloud_db_url(environ: Mapping[str, str]) -> str:
    url = _required(environ, CLOUD_DB_URL_ENV, f"the Cloud DB's libpq URL, e.g. {CLOUD_DB_URL_HINT}")
    if urlsplit(url).scheme not in ("postgres", "postgresql"):
        raise SettingsError(f"{CLOUD_DB_URL_ENV} must be a libpq URL: {CLOUD_DB_URL_HINT}")
    return url


def _keys(environ: Mapping[str, str]) -> KeyRing:
    try:
        return parse_keys(_required(environ, KEYS_ENV, "comma-separated base64 AES-256 keys"))
    except CredentialsKeyError as e:
        raise SettingsError(str(e)) from None


def _tokens(environ: Mapping[str, str]) -> tuple[str, ...]:
    raw_tokens = _required(environ, API_TOKENS_ENV, "comma-separated bearer tokens the control plane sends")
    tokens = tuple(t.strip() for t in raw_tokens.split(",") if t.strip())
    if not tokens:
        raise SettingsError(f"{API_TOKENS_ENV} holds no token")
    short = [
        f"{API_TOKENS_ENV}: token #{position} is shorter than {MIN_TOKEN_LENGTH} characters "
        "(make one with `openssl rand -hex 32`)"
        for position, token in enumerate(tokens, start=1)
        if len(token) < MIN_TOKEN_LENGTH
    ]
    if short:
        raise SettingsError(*short)
    return tokens


_TUNING_ENV: dict[str, tuple[str, type]] = {
    "concurrency": ("RAILZWAY_SERVICE_CONCURRENCY", int),
    "max_attempts": ("RAILZWAY_SERVICE_MAX_ATTEMPTS", int),
    "retry_base_seconds": ("RAILZWAY_SERVICE_RETRY_BASE_SECONDS", float),
    "retry_max_seconds": ("RAILZWAY_SERVICE_RETRY_MAX_SECONDS", float),
    "heartbeat_seconds": ("RAILZWAY_SERVICE_HEARTBEAT_SECONDS", float),
    "stalled_seconds": ("RAILZWAY_SERVICE_STALLED_SECONDS", float),
    "recovery_every_seconds": ("RAILZWAY_SERVICE_RECOVERY_SECONDS", int),
    "shutdown_grace_seconds": ("RAILZWAY_SERVICE_SHUTDOWN_GRACE_SECONDS", float),
    "poll_seconds": ("RAILZWAY_SERVICE_POLL_SECONDS", float),
}


def _tuning(environ: Mapping[str, str]) -> Tuning:
    values: dict[str, float | int] = {}
    problems: list[str] = []
    for attribute, (name, kind) in _TUNING_ENV.items():
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        try:
            value = kind(raw)
        except ValueError:
            problems.append(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}")
            continue
        if value <= 0:
            problems.append(f"{name} must be positive, got {raw!r}")
            continue
        values[attribute] = value
    tuning = Tuning(**values)  # type: ignore[arg-type]
    if 60 % tuning.recovery_every_seconds:
        problems.append(f"RAILZWAY_SERVICE_RECOVERY_SECONDS must divide 60, got {tuning.recovery_every_seconds}")
    if tuning.stalled_seconds <= tuning.heartbeat_seconds:
        problems.append(
            "RAILZWAY_SERVICE_STALLED_SECONDS must be longer than RAILZWAY_SERVICE_HEARTBEAT_SECONDS, "
            "or live workers would be taken for dead"
        )
    if problems:
        raise SettingsError(*problems)
    return tuning


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise SettingsError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


def _required(environ: Mapping[str, str], name: str, what: str) -> str:
    value = environ.get(name)
    if not value or not value.strip():
        raise SettingsError(f"{name} is not set: {what}")
    return value.strip()
