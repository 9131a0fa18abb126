"""The audit and the report against one server: connect, read, compare.

Everything that can stop a check from running at all (server unreachable, a query refused, an unknown
region) becomes `CannotRun` with a message free of secrets; everything the check finds is a `Finding`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import psycopg

from railzway.audit import catalogue, connection
from railzway.audit.catalogue import ServerInfo
from railzway.audit.errors import CannotRun
from railzway.audit.expected import expected_tenants
from railzway.audit.findings import FINDING, WARNING, Finding, find, sort_findings
from railzway.audit.hardening import hardening_findings
from railzway.audit.inside import read_inside
from railzway.audit.login_matrix import DEFAULT_SAMPLE, MatrixCounts, cloud_db_passwords, run_matrix
from railzway.audit.usage import TenantUsage, usage_rows
from railzway.clouddb.connect import URL_ENV as CLOUD_DB_URL_ENV
from railzway.clouddb.connect import CloudDBUnavailable, cloud_db_url
from railzway.clouddb.connect import connect as connect_cloud_db
from railzway.lifecycle import records
from railzway.registry.loader import RegistryError, load_registry
from railzway.registry.model import Registry

AUDIT_APPLICATION = "railzway-audit"
REPORT_APPLICATION = "railzway-report"

MAX_PROBLEMS_SHOWN = 5

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class AuditResult:
    server: ServerInfo
    region: str | None
    tenants: int
    """How many registry tenants this server was expected to hold."""
    statements: int
    seconds: float
    findings: list[Finding]
    login_matrix: MatrixCounts | None = field(default=None)
    inside_statements: int = 0
    """Statements sent inside the tenant databases (one per database, each on its own connection)."""
    admin_safe: bool | None = None
    """Whether no tenant database can steer the admin's sessions (its role-level search_path); None: unread."""

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def clean(self) -> bool:
        return not self.findings

    def exit_code(self, strict: bool) -> int:
        """1 when a finding exists (or a warning under `--strict`), 0 otherwise."""
        if self.count(FINDING) or (strict and self.count(WARNING)):
            return 1
        return 0


def registry_or_cannot_run(directory: str | os.PathLike[str]) -> Registry:
    """The registry, or `CannotRun` listing its errors: an audit against a broken registry means nothing."""
    try:
        return load_registry(directory)
    except RegistryError as e:
        shown = e.problems[:MAX_PROBLEMS_SHOWN]
        more = len(e.problems) - len(shown)
        listing = "; ".join(p.brief() for p in shown) + (f"; and {more} more" if more > 0 else "")
        raise CannotRun(f"invalid registry {directory} (`railzway validate` lists every problem): {listing}") from None


def run_audit(
    admin_url: str,
    registry: Registry,
    region: str | None = None,
    login_matrix: bool = False,
    environ: Mapping[str, str] = os.environ,
    sample: int = DEFAULT_SAMPLE,
    now: dt.datetime | None = None,
) -> AuditResult:
    """Audit the server of `admin_url` against the registry.

    With `login_matrix`, the tenants' passwords are read from the Cloud DB named in `environ` first (so a
    missing key stops the audit before it touches the server), then the logins are tried.
    """
    now = now or dt.datetime.now(dt.UTC)
    expected = expected_tenants(registry, region, now.date())
    passwords = cloud_db_passwords([t.org_id for t in expected], environ) if login_matrix else None
    started = time.perf_counter()
    with connection.connect(admin_url, AUDIT_APPLICATION) as conn:
        snapshot = _read(admin_url, lambda: catalogue.read_catalogue(conn))
    # One statement inside every tenant database that accepts connections: objects shadowing the catalogue.
    inside = read_inside(admin_url, sorted(n for n, d in snapshot.databases.items() if d.allow_connections))
    findings = sort_findings(
        [
            *find(expected, registry.tenants.keys(), snapshot, purged_org_ids(environ)),
            *hardening_findings(expected, snapshot, inside),
        ]
    )
    seconds = time.perf_counter() - started
    log.info("audited %d tenants with %d statements in %.3f s", len(expected), snapshot.statements, seconds)
    counts = None
    if passwords is not None:
        matrix = run_matrix(admin_url, expected, passwords, sample=sample)
        findings = sort_findings([*findings, *matrix.findings])
        counts = matrix.counts
    admin_safe = None if snapshot.admin is None else not snapshot.admin.problems()
    return AuditResult(
        snapshot.server,
        region,
        len(expected),
        snapshot.statements,
        seconds,
        findings,
        counts,
        inside.statements,
        admin_safe,
    )


def purged_org_ids(environ: Mapping[str, str]) -> frozenset[int]:
    """The purged orgs' tombstones from the Cloud DB when RAILZWAY_CLOUD_DB_URL is set (else none known)."""
    if not environ.get(CLOUD_DB_URL_ENV, "").strip():
        return frozenset()
    try:
        with connect_cloud_db(cloud_db_url(environ), AUDIT_APPLICATION) as conn:
            return records.purged_org_ids(conn)
    except CloudDBUnavailable as e:
        raise CannotRun(str(e)) from None
    except psycopg.errors.UndefinedTable:
        raise CannotRun("the Cloud DB has no tenant_purges table yet: run `railzway migrate`") from None


def run_report(
    admin_url: str, registry: Registry, region: str | None = None, today: dt.date | None = None
) -> list[TenantUsage]:
    """Size and connections of every expected tenant's database."""
    expected = expected_tenants(registry, region, today or dt.datetime.now(dt.UTC).date())
    with connection.connect(admin_url, REPORT_APPLICATION) as conn:
        usage = _read(admin_url, lambda: catalogue.read_usage(conn))
    return usage_rows(expected, usage)


def _read(admin_url: str, read: Callable[[], T]) -> T:
    try:
        return read()
    except psycopg.Error as e:
        reason = connection.scrub(" ".join(str(e).split()), admin_url)
        raise CannotRun(
            f"cannot read the server's catalogue ({reason}); the admin role needs to read "
            "pg_catalog and pg_stat_activity"
        ) from None
