"""Benchmark: `railzway audit` of 1,000 tenants on one server, and proof that its query count is fixed.

Starts a throwaway PostgreSQL (fsync off), creates tenants with plain SQL exactly as the component does
(role, database from template0, PUBLIC revoked; every tenth terminated), applies README.md's region set-up
(the audit's admin `provisioner` has the pinned search_path; `postgres` and `template1` closed to PUBLIC),
writes a matching registry, and audits at two sizes. The catalogue reads are a fixed number of statements;
the look inside the tenant databases (issue 13) is one connection and one statement per database that
accepts connections (here the terminated ones do not), `inside` in the table. Statements are counted by the server itself (log_statement = all, prefixed with the
client's application name), not by the client.

    .venv/bin/python bench/bench_audit.py [--tenants 1000] [--runs 5]

Prints figures; asserts nothing about absolute time except the issue's budget (an audit of 1,000 tenants
in under 5 s), which it reports as a ratio.
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devkit.localpg import LocalPostgres
from railzway.admin import session_rules as admin_rules
from railzway.audit.run import AUDIT_APPLICATION, REPORT_APPLICATION, run_audit, run_report
from railzway.registry import naming
from railzway.registry.loader import load_registry
from railzway.tenant import spec

BUDGET_S = 5.0
SMALL = 10
CONNECTION_LIMIT = 5

TIERS = """\
tiers:
  starter:
    cpu: 250
    memory_mb: 256
    connection_limit: 5
    storage_quota_mb: 1024
"""
REGIONS = """\
default: eu-west
max_tenants_per_shard: 250
regions:
  eu-west:
    shards: {shards}
"""


def status_of(org_id: int) -> str:
    return "terminated" if org_id % 10 == 0 else "running"


def provision(conn: psycopg.Connection, org_id: int) -> None:
    terminated = status_of(org_id) == "terminated"
    role, database = sql.Identifier(naming.role_name(org_id)), sql.Identifier(naming.database_name(org_id))
    conn.execute(
        sql.SQL(
            "CREATE ROLE {} {} PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
            "CONNECTION LIMIT {} VALID UNTIL {}"
        ).format(
            role,
            sql.SQL("NOLOGIN" if terminated else "LOGIN"),
            sql.Literal(secrets.token_urlsafe(24)),
            sql.Literal(spec.role_connection_limit(status_of(org_id), CONNECTION_LIMIT)),
            sql.Literal(spec.role_valid_until(status_of(org_id))),
        )
    )
    conn.execute(
        sql.SQL(
            "CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8' CONNECTION LIMIT {} ALLOW_CONNECTIONS {}"
        ).format(database, role, sql.Literal(CONNECTION_LIMIT), sql.SQL("false" if terminated else "true"))
    )
    conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))


def write_registry(root: Path, count: int) -> Path:
    shards = max(1, -(-count // 250))
    if root.exists():
        for path in (root / "orgs").glob("*.yaml"):
            path.unlink()
    (root / "orgs").mkdir(parents=True, exist_ok=True)
    (root / "tiers.yaml").write_text(TIERS)
    (root / "regions.yaml").write_text(REGIONS.format(shards=shards))
    for org_id in range(1, count + 1):
        (root / "orgs" / f"{org_id}.yaml").write_text(
            f'org_id: {org_id}\ntier: starter\nversion: "1.8.2"\nstatus: {status_of(org_id)}\n'
            f"region: eu-west\nshard: {(org_id - 1) % shards}\n"
        )
    return root


def statements_logged(server: LocalPostgres, application: str) -> int:
    pattern = re.compile(rf"^{re.escape(application)}\|LOG:  (statement|execute [^:]*): ")
    log = (server.data_dir.parent / "server.log").read_text(errors="replace")
    return sum(1 for line in log.splitlines() if pattern.match(line))


ADMIN = "provisioner"


def region_setup(conn: psycopg.Connection, server: LocalPostgres) -> None:
    """README.md's region set-up and the program's region hardening, so a correct fleet audits clean."""
    conn.execute(
        sql.SQL("CREATE ROLE {} SUPERUSER LOGIN PASSWORD {}").format(
            sql.Identifier(ADMIN), sql.Literal(server.password)
        )
    )
    conn.execute(admin_rules.setup_sql(ADMIN).encode())
    for name in admin_rules.SERVER_DATABASES:
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))


def measure(server: LocalPostgres, registry_dir: Path, runs: int) -> dict[str, float]:
    registry = load_registry(registry_dir)
    admin_url = server.url(user=ADMIN, password=server.password)
    before = statements_logged(server, AUDIT_APPLICATION)
    times, findings = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        result = run_audit(admin_url, registry)
        times.append(time.perf_counter() - started)
        findings = len(result.findings)
    time.sleep(0.2)  # let the server finish writing its log
    statements = (statements_logged(server, AUDIT_APPLICATION) - before) / runs
    before = statements_logged(server, REPORT_APPLICATION)
    started = time.perf_counter()
    rows = run_report(admin_url, registry)
    report_s = time.perf_counter() - started
    time.sleep(0.2)
    return {
        "tenants": len(registry.tenants),
        "median_s": statistics.median(times),
        "max_s": max(times),
        "statements": statements,
        "inside": float(result.inside_statements),
        "findings": findings,
        "report_s": report_s,
        "report_statements": statements_logged(server, REPORT_APPLICATION) - before,
        "report_rows": len(rows),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp, LocalPostgres() as server:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET log_statement = 'all'")
            conn.execute("ALTER SYSTEM SET log_line_prefix = '%a|'")
            conn.execute("SELECT pg_reload_conf()")
            region_setup(conn, server)
            created = 0
            figures = []
            for size in (SMALL, args.tenants):
                started = time.perf_counter()
                for org_id in range(created + 1, size + 1):
                    provision(conn, org_id)
                    if org_id % 100 == 0:
                        print(f"  created {org_id} tenants", file=sys.stderr, flush=True)
                build_s = time.perf_counter() - started
                created = size
                figures.append((measure(server, write_registry(Path(tmp) / "tenants", size), args.runs), build_s))
    print(
        f"{'tenants':>8} {'statements':>10} {'inside':>6} {'audit median s':>14} {'audit max s':>11} {'findings':>8} "
        f"{'report s':>8} {'report stmts':>12} {'build s':>8}"
    )
    for f, build_s in figures:
        print(
            f"{f['tenants']:>8.0f} {f['statements']:>10.0f} {f['inside']:>6.0f} {f['median_s']:>14.3f} {f['max_s']:>11.3f} "
            f"{f['findings']:>8.0f} {f['report_s']:>8.3f} {f['report_statements']:>12.0f} {build_s:>8.1f}"
        )
    small, large = figures[0][0], figures[-1][0]
    print(
        f"statements per audit: {small['statements']:.0f} at {small['tenants']:.0f} tenants, "
        f"{large['statements']:.0f} at {large['tenants']:.0f} (fixed: {small['statements'] == large['statements']})"
    )
    print(
        f"audit of {large['tenants']:.0f} tenants: {large['median_s']:.3f} s median = "
        f"{large['median_s'] / BUDGET_S:.1%} of the {BUDGET_S:.0f} s budget; "
        f"{large['median_s'] / small['median_s']:.1f}x the time of {small['tenants']:.0f} tenants "
        f"for {large['tenants'] / small['tenants']:.0f}x the tenants"
    )
    ok = large["median_s"] < BUDGET_S and small["statements"] == large["statements"] and large["findings"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
