"""The audit's two output formats: lines an operator reads, and one JSON document a script reads."""

from __future__ import annotations

import json
from dataclasses import asdict

from railzway.audit.findings import FINDING, WARNING
from railzway.audit.login_matrix import MatrixCounts
from railzway.audit.run import AuditResult


def to_text(result: AuditResult) -> str:
    lines = []
    for f in result.findings:
        org = f"org {f.org_id}" if f.org_id is not None else "no org"
        lines.append(f"{f.severity.upper():8} {org}  {f.object}: {f.problem}")
        lines.append(f"{'':8} fix: {f.fix}")
    if result.login_matrix is not None:
        lines.append(login_matrix_line(result.login_matrix))
    if result.admin_safe is not None:
        lines.append(admin_line(result))
    lines.append(summary(result))
    return "\n".join(lines)


def login_matrix_line(c: MatrixCounts) -> str:
    return (
        f"login matrix: own database {c.own_accepted}/{c.own_expected_accept} logged in, "
        f"terminated {c.own_refused}/{c.own_expected_refuse} refused, "
        f"other tenants' databases {c.foreign_refused}/{c.foreign_attempted} refused, "
        f"{c.inconclusive} inconclusive, {c.without_password} without a password"
    )


def admin_line(result: AuditResult) -> str:
    """Whether a tenant database can steer the admin's sessions (issue 13), said every time."""
    scope = f" of region {result.region}" if result.region else ""
    if result.admin_safe:
        return f"admin {result.server.user}{scope}: safe (role-level search_path pg_catalog, pg_temp)"
    return f"admin {result.server.user}{scope}: NOT SAFE: a tenant database can steer its sessions (admin-steerable)"


def summary(result: AuditResult) -> str:
    scope = f" in region {result.region}" if result.region else ""
    findings, warnings = result.count(FINDING), result.count(WARNING)
    verdict = "clean" if result.clean else f"{_plural(findings, 'finding')}, {_plural(warnings, 'warning')}"
    return (
        f"audit of {result.server.user}@{result.server.address} (PostgreSQL {result.server.version}): "
        f"{_plural(result.tenants, 'tenant')}{scope}: {verdict} "
        f"({result.statements} statements, {result.inside_statements} inside tenant databases, "
        f"{result.seconds:.2f} s)"
    )


def failure(result: AuditResult, strict: bool) -> str:
    """The one line on stderr that says why the audit exits 1."""
    findings, warnings = result.count(FINDING), result.count(WARNING)
    if findings:
        return f"audit failed: {_plural(findings, 'finding')} (security or data), {_plural(warnings, 'warning')}"
    return f"audit failed: {_plural(warnings, 'warning')} (--strict)" if strict and warnings else "audit passed"


def to_json(result: AuditResult) -> str:
    document = {
        "server": asdict(result.server),
        "region": result.region,
        "tenants": result.tenants,
        "statements": result.statements,
        "inside_statements": result.inside_statements,
        "admin": {"user": result.server.user, "safe": result.admin_safe},
        "seconds": round(result.seconds, 4),
        "counts": {FINDING: result.count(FINDING), WARNING: result.count(WARNING)},
        "findings": [f.as_dict() for f in result.findings],
        "login_matrix": asdict(result.login_matrix) if result.login_matrix is not None else None,
    }
    return json.dumps(document, indent=2)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"
