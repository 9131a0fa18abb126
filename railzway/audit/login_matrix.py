"""Proving isolation by logging in: each tenant into its own database, and into a sample of others'.

The catalogue says who *should* be able to connect; a login says who *can*, through pg_hba.conf, the
password the container really has (the one in the Cloud DB), and every privilege path. Each tenant with
a password logs in to its own database (must succeed; must be refused when the tenant is terminated) and
to `sample` other tenants' databases with its own, valid password (must all be refused by the server).

An attempt that never reached an answer from the server (network, too many clients) proves nothing
either way: it is counted as inconclusive and reported as a warning, never as a pass.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import psycopg
from psycopg.conninfo import make_conninfo

from railzway import clouddb
from railzway.audit.connection import scrub
from railzway.audit.errors import CannotRun
from railzway.audit.expected import ExpectedTenant
from railzway.audit.findings import FINDING, WARNING, Finding

DEFAULT_SAMPLE = 3
DEFAULT_WORKERS = 8
LOGIN_TIMEOUT_S = 5
APPLICATION_NAME = "railzway-audit-login"

Expect = Literal["accept", "refuse"]
Outcome = Literal["accepted", "refused", "inconclusive"]

_FATAL_RE = re.compile(r"FATAL:\s+(.*?)(?:\s+DETAIL:|$)", re.DOTALL)
# The server answered, but about its capacity, not about this role's rights.
_CAPACITY = ("too many clients", "too many connections", "the database system is")


@dataclass(frozen=True)
class Attempt:
    """One login: `tenant`'s role, with its own password, into `database`."""

    tenant: ExpectedTenant
    database: str
    target_org: int
    expect: Expect


@dataclass(frozen=True)
class Result:
    attempt: Attempt
    outcome: Outcome
    reason: str


@dataclass
class MatrixCounts:
    own_expected_accept: int = 0
    own_accepted: int = 0
    own_expected_refuse: int = 0
    own_refused: int = 0
    foreign_attempted: int = 0
    foreign_refused: int = 0
    inconclusive: int = 0
    without_password: int = 0


@dataclass
class MatrixResult:
    counts: MatrixCounts = field(default_factory=MatrixCounts)
    findings: list[Finding] = field(default_factory=list)


def cloud_db_passwords(org_ids: Collection[int], environ: Mapping[str, str] = os.environ) -> dict[int, str]:
    """The tenants' current passwords: read from the Cloud DB (`RAILZWAY_CLOUD_DB_URL`) and decrypted with
    `RAILZWAY_CREDENTIALS_KEYS`, the same values the sync wrote from the stack outputs. Kept in memory only.
    """
    try:
        keys = clouddb.load_keys(environ)
        with clouddb.connect(clouddb.cloud_db_url(environ), APPLICATION_NAME) as conn:
            found = clouddb.credentials(conn, keys, list(org_ids))
    except (
        clouddb.CloudDBUnavailable,
        clouddb.CredentialsKeyError,
        clouddb.CredentialsError,
        clouddb.MigrationError,
    ) as e:
        raise CannotRun(f"the login matrix needs the Cloud DB: {e}") from None
    except psycopg.Error as e:
        raise CannotRun(
            f"the login matrix cannot read the Cloud DB ({type(e).__name__}: {' '.join(str(e).split())})"
        ) from None
    return {org_id: found[org_id].password for org_id in found}


def plan(
    tenants: Sequence[ExpectedTenant], passwords: Mapping[int, str], sample: int, rng: random.Random
) -> list[Attempt]:
    """Own-database logins for every tenant with a password, plus `sample` foreign targets each."""
    attempts: list[Attempt] = []
    for tenant in tenants:
        if tenant.org_id not in passwords:
            continue
        attempts.append(
            Attempt(tenant, tenant.database, tenant.org_id, "accept" if tenant.role_spec.login else "refuse")
        )
        others = [t for t in tenants if t.org_id != tenant.org_id]
        for target in rng.sample(others, min(sample, len(others))):
            attempts.append(Attempt(tenant, target.database, target.org_id, "refuse"))
    return attempts


def run_matrix(
    admin_url: str,
    tenants: Sequence[ExpectedTenant],
    passwords: Mapping[int, str],
    sample: int = DEFAULT_SAMPLE,
    rng: random.Random | None = None,
    workers: int = DEFAULT_WORKERS,
) -> MatrixResult:
    """Try every planned login against the server of `admin_url` (its host, port and TLS settings)."""
    attempts = plan(tenants, passwords, sample, rng or random.SystemRandom())
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(lambda a: _try(admin_url, a, passwords[a.tenant.org_id]), attempts))
    result = MatrixResult()
    for tenant in tenants:
        if tenant.org_id not in passwords and tenant.role_spec.login:
            result.counts.without_password += 1
            result.findings.append(
                Finding(
                    WARNING,
                    "login-no-password",
                    tenant.org_id,
                    f"role {tenant.role}",
                    "the Cloud DB holds no password for this tenant, so its logins were not tried",
                    "run `railzway sync` for the stack that holds the tenant",
                )
            )
    for r in results:
        _count(result, r)
    return result


def _count(result: MatrixResult, r: Result) -> None:
    a, counts = r.attempt, result.counts
    own = a.target_org == a.tenant.org_id
    subject = f"role {a.tenant.role}"
    if r.outcome == "inconclusive":
        counts.inconclusive += 1
        result.findings.append(
            Finding(
                WARNING,
                "login-inconclusive",
                a.target_org,
                subject,
                f"the login to {a.database} got no answer about its rights ({r.reason})",
                "run the audit again when the server has free connections",
            )
        )
        return
    if own and a.expect == "accept":
        counts.own_expected_accept += 1
        counts.own_accepted += r.outcome == "accepted"
        if r.outcome == "refused":
            result.findings.append(
                Finding(
                    FINDING,
                    "login-own-refused",
                    a.tenant.org_id,
                    subject,
                    f"cannot log in to its own database {a.database} with the Cloud DB password ({r.reason})",
                    "run `pulumi up` then `railzway sync` for the tenant's stack so the role and the Cloud DB agree",
                )
            )
    elif own:
        counts.own_expected_refuse += 1
        counts.own_refused += r.outcome == "refused"
        if r.outcome == "accepted":
            result.findings.append(
                Finding(
                    FINDING,
                    "login-terminated-accepted",
                    a.tenant.org_id,
                    subject,
                    f"logged in to {a.database} although the tenant is {a.tenant.status}",
                    _lock_out(a.tenant),
                )
            )
    else:
        counts.foreign_attempted += 1
        counts.foreign_refused += r.outcome == "refused"
        if r.outcome == "accepted":
            result.findings.append(
                Finding(
                    FINDING,
                    "login-foreign-accepted",
                    a.target_org,
                    f"database {a.database}",
                    f"org {a.tenant.org_id}'s role {a.tenant.role} logged in to it with its own password",
                    f"REVOKE ALL ON DATABASE {a.database} FROM PUBLIC, and revoke whatever grants "
                    f"{a.tenant.role} CONNECT (the audit's foreign-connect findings name it)",
                )
            )


def _try(admin_url: str, attempt: Attempt, password: str) -> Result:
    conninfo = make_conninfo(
        admin_url,
        user=attempt.tenant.role,
        password=password,
        dbname=attempt.database,
        connect_timeout=LOGIN_TIMEOUT_S,
        application_name=APPLICATION_NAME,
    )
    try:
        psycopg.connect(conninfo, autocommit=True).close()
    except psycopg.Error as e:
        text = scrub(" ".join(str(e).split()), admin_url).replace(password, "***")
        match = _FATAL_RE.search(text)
        if match is None or any(word in match.group(1) for word in _CAPACITY):
            return Result(attempt, "inconclusive", text)
        return Result(attempt, "refused", match.group(1).strip())
    return Result(attempt, "accepted", "logged in")


def _lock_out(tenant: ExpectedTenant) -> str:
    """What shuts a tenant out that may not log in, as its specification says: its role and the database's
    connection limit. Not ALLOW_CONNECTIONS false: that locks out the admin and the provider too."""
    role, database = tenant.role_spec, tenant.database_spec
    return (
        f"`pulumi up` on the tenant's stack; or ALTER ROLE {role.name} NOLOGIN VALID UNTIL '{role.valid_until}' "
        f"CONNECTION LIMIT {role.connection_limit}; ALTER DATABASE {database.name} CONNECTION LIMIT "
        f"{database.connection_limit}"
    )
