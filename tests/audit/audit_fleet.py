"""Helpers of the audit tests: tenants built with plain SQL as the component builds them, a registry that
describes them, and the real `railzway` command run in-process.

A module of its own (not conftest.py) so test modules can import it by a name unique in the test tree.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from devkit.localpg import LocalPostgres
from railzway.admin import session_rules as admin_rules
from railzway.registry import naming
from railzway.tenant import spec

TIERS_YAML = """\
tiers:
  starter:
    cpu: 250
    memory_mb: 256
    connection_limit: 5
    storage_quota_mb: 64
  growth:
    cpu: 1000
    memory_mb: 1024
    connection_limit: 20
    storage_quota_mb: 1024
"""

REGIONS_YAML = """\
default: eu-west
regions:
  eu-west:
    shards: 1
  us-east:
    shards: 1
"""

LIMITS = {"starter": 5, "growth": 20}

# The region's provisioning admin (a superuser with the region set-up); the bootstrap `postgres` has none.
ADMIN = "provisioner"


@dataclass(frozen=True)
class TenantSpec:
    org_id: int
    tier: str
    status: str
    region: str

    @property
    def role(self) -> str:
        return naming.role_name(self.org_id)

    @property
    def database(self) -> str:
        return naming.database_name(self.org_id)


# Running, stopped and terminated tenants in two regions and two tiers.
FLEET = (
    TenantSpec(101, "starter", "running", "eu-west"),
    TenantSpec(102, "growth", "running", "eu-west"),
    TenantSpec(103, "starter", "stopped", "eu-west"),
    TenantSpec(104, "starter", "terminated", "eu-west"),
    TenantSpec(201, "growth", "running", "us-east"),
)


@dataclass
class CliOutcome:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def codes_for(self, org_id: int | None) -> set[str]:
        """The rule codes the JSON output reports for one org."""
        return {f["code"] for f in self.json()["findings"] if f["org_id"] == org_id}


def run_cli(*args: str) -> CliOutcome:
    """`python -m railzway ARGS` in this process: the real entry point, its exit status and both streams."""
    from railzway.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["railzway", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as e:
        code = int(e.code or 0)
    finally:
        sys.argv = argv
    return CliOutcome(code, out.getvalue(), err.getvalue())


def write_registry(root: Path, tenants: tuple[TenantSpec, ...]) -> Path:
    (root / "orgs").mkdir(parents=True)
    (root / "tiers.yaml").write_text(TIERS_YAML)
    (root / "regions.yaml").write_text(REGIONS_YAML)
    for t in tenants:
        (root / "orgs" / f"{t.org_id}.yaml").write_text(
            f'org_id: {t.org_id}\ntier: {t.tier}\nversion: "1.8.2"\nstatus: {t.status}\nregion: {t.region}\nshard: 0\n'
        )
    return root


def provision(conn: psycopg.Connection, tenant: TenantSpec, password: str) -> None:
    """What the component's Role, Database and revoke Grant amount to, in SQL."""
    limit = LIMITS[tenant.tier]
    terminated = tenant.status == "terminated"
    role, database = sql.Identifier(tenant.role), sql.Identifier(tenant.database)
    conn.execute(
        sql.SQL(
            "CREATE ROLE {} {} PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
            "CONNECTION LIMIT {} VALID UNTIL {}"
        ).format(
            role,
            sql.SQL("NOLOGIN" if terminated else "LOGIN"),
            sql.Literal(password),
            sql.Literal(spec.role_connection_limit(tenant.status, limit)),
            sql.Literal(spec.role_valid_until(tenant.status)),
        )
    )
    conn.execute(
        sql.SQL(
            "CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8' CONNECTION LIMIT {} ALLOW_CONNECTIONS {}"
            # A terminated tenant's database: reachable by the admin only (see spec.database_connection_limit).
        ).format(database, role, sql.Literal(spec.database_connection_limit(tenant.status, limit)), sql.SQL("true"))
    )
    conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))


@dataclass
class Fleet:
    """A server holding FLEET exactly as the registry at `registry` says."""

    server: LocalPostgres
    registry: Path
    passwords: dict[int, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The region's provisioning admin, with the one-time region set-up (README.md)."""
        return self.server.url(user=ADMIN, password=self.server.password)

    def sql(self, *statements: str) -> None:
        """Run statements as the server's bootstrap superuser (which has no pinned search_path)."""
        with psycopg.connect(self.server.url(), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def audit(self, *extra: str) -> CliOutcome:
        return run_cli("audit", "--admin-url", self.url, "--registry", str(self.registry), "--format", "json", *extra)

    @contextlib.contextmanager
    def broken(self, breaking: list[str], repair: list[str]) -> Iterator[None]:
        """Apply `breaking`, and `repair` afterwards even when the test fails, so the next test starts clean."""
        self.sql(*breaking)
        try:
            yield
        finally:
            self.sql(*repair)


def start_fleet(tmp: Path, tenants: tuple[TenantSpec, ...] = FLEET) -> tuple[LocalPostgres, Fleet]:
    server = LocalPostgres().start()
    fleet = Fleet(server, write_registry(tmp / "tenants", tenants))
    with psycopg.connect(server.url(), autocommit=True) as conn:
        # The region set-up and hardening: the admin's sessions pin their search_path, and the server's own
        # databases are closed to PUBLIC (what RegionHardening declares).
        conn.execute(
            sql.SQL("CREATE ROLE {} SUPERUSER LOGIN PASSWORD {}").format(
                sql.Identifier(ADMIN), sql.Literal(server.password)
            )
        )
        conn.execute(admin_rules.setup_sql(ADMIN).encode())
        for name in admin_rules.SERVER_DATABASES:
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
        for tenant in tenants:
            fleet.passwords[tenant.org_id] = secrets.token_urlsafe(24)
            provision(conn, tenant, fleet.passwords[tenant.org_id])
    return server, fleet
