"""Benchmark: one shard stack on the real Pulumi engine, at the sizes that decide the shard capacity.

For each N (default 50, 100 and 250) one stack holds N tenants of a databases-only region, against a
throwaway PostgreSQL on a `file://` backend, driven through the Automation API exactly as the fleet runner
and the service drive it (`railzway.engine.stacks.AutomationStacks`). Measured, in one run:

- `up` creating the N tenants (and the per-tenant cost),
- a no-change `up`, a no-change `preview` and a `refresh`,
- an untargeted `up` after adding one tenant to the registry (what a merged sign-up costs the deploy
  workflow),
- a sign-up through the service's path: one more tenant, applied by a targeted `up` of that tenant's
  `TenantInstance` (`railzway.service.updater.Updater` makes the same call), the latency a customer waits,
- the size of the stored checkpoint.

The engine cannot be installed on every machine: without the `pulumi` CLI the script says so and exits 0.
Figures go to bench/README.md; read the per-tenant column and the ratios, machines here are noisy.

Run: .venv/bin/python bench/bench_engine.py [--tenants 50 100 250]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from devkit.localpg import LocalPostgres  # noqa: E402
from railzway.admin import session_rules as admin_rules  # noqa: E402
from railzway.engine.stacks import AutomationStacks, StackRef, StackResult, tenant_urn  # noqa: E402
from railzway.registry import naming  # noqa: E402

REGION = "us-east"
FIRST_ORG = 700_000
SKIP_MESSAGE = "skipped: bench_engine needs the Pulumi engine (the `pulumi` CLI and provider plugins on PATH)"


@dataclass(frozen=True)
class Row:
    tenants: int
    create: float
    no_change_up: float
    preview: float
    refresh: float
    add_one_up: float
    signup_targeted: float
    checkpoint_mb: float
    signup_changes: str

    @property
    def per_tenant(self) -> float:
        return self.create / self.tenants


def tenant_file(org_id: int) -> str:
    return (
        f'org_id: {org_id}\ntier: starter\nversion: "1.8.2"\nstatus: running\nregion: {REGION}\nshard: 0\n'
        f"subscription_id: sub_{org_id:012d}\n"
    )


def build_registry(root: Path, tenants: int) -> Path:
    """A registry of `tenants` running tenants in one databases-only shard (capacity set out of the way)."""
    registry = root / "tenants"
    (registry / "orgs").mkdir(parents=True)
    shutil.copy(PROJECT / "tenants" / "tiers.yaml", registry / "tiers.yaml")
    (registry / "regions.yaml").write_text(
        f"default: {REGION}\nmax_tenants_per_shard: 10000\nregions:\n  {REGION}:\n    shards: 1\n"
    )
    for org_id in range(FIRST_ORG, FIRST_ORG + tenants):
        add_tenant(registry, org_id)
    return registry


def add_tenant(registry: Path, org_id: int) -> None:
    (registry / "orgs" / f"{org_id}.yaml").write_text(tenant_file(org_id))


def timed(step: Callable[[], StackResult]) -> tuple[float, StackResult]:
    start = time.perf_counter()
    result = step()
    return time.perf_counter() - start, result


def measure(n: int, server: LocalPostgres, root: Path) -> Row:
    from pulumi import automation as auto

    registry = build_registry(root / f"n{n}", n)
    backend = root / f"backend-{n}"
    backend.mkdir()
    env = {"PULUMI_BACKEND_URL": f"file://{backend}", "PULUMI_CONFIG_PASSPHRASE": "bench-engine"}
    stacks = AutomationStacks(PROJECT, env_vars=env)
    ref = StackRef(f"bench-engine-{n}", shards=(f"{REGION}/0",))
    selected = stacks.select(ref)
    prefix = f"railzway:regions.{REGION}.postgres"
    selected.set_all_config(
        {
            "railzway:registryDir": auto.ConfigValue(str(registry)),
            f"{prefix}.host": auto.ConfigValue(server.host),
            f"{prefix}.port": auto.ConfigValue(str(server.port)),
            f"{prefix}.username": auto.ConfigValue(server.superuser),
            f"{prefix}.sslmode": auto.ConfigValue("disable"),
            f"{prefix}.tenantHost": auto.ConfigValue(server.host),
            f"{prefix}.password": auto.ConfigValue(server.password, secret=True),
        },
        path=True,
    )
    orgs = list(range(FIRST_ORG, FIRST_ORG + n + 2))
    try:
        create, _ = timed(lambda: stacks.run(ref, "up"))
        no_change, result = timed(lambda: stacks.run(ref, "up"))
        assert result.changes.creates == result.changes.updates == 0, f"no-change up changed: {result.changes}"
        preview, _ = timed(lambda: stacks.run(ref, "preview"))
        refresh, _ = timed(lambda: stacks.run(ref, "refresh"))
        add_tenant(registry, FIRST_ORG + n)
        add_one, _ = timed(lambda: stacks.run(ref, "up"))
        signup_org = FIRST_ORG + n + 1
        add_tenant(registry, signup_org)
        signup, result = timed(lambda: stacks.run(ref, "up", targets=[tenant_urn(ref.name, signup_org)]))
        checkpoint = backend / ".pulumi" / "stacks" / "railzway" / f"{ref.name}.json"
        size = checkpoint.stat().st_size if checkpoint.exists() else 0
        return Row(
            n, create, no_change, preview, refresh, add_one, signup, size / 1e6, f"{result.changes.creates} created"
        )
    finally:
        try:
            selected.destroy()
            selected.workspace.remove_stack(ref.name)
        finally:
            (PROJECT / f"Pulumi.{ref.name}.yaml").unlink(missing_ok=True)
            drop_tenants(server, orgs)


def drop_tenants(server: LocalPostgres, org_ids: Sequence[int]) -> None:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        for org_id in org_ids:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(naming.database_name(org_id)))
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(naming.role_name(org_id))))


def harden_admin(server: LocalPostgres) -> None:
    """The one-time region set-up of README.md on the throwaway server's admin (the program refuses it without)."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(admin_rules.setup_sql(server.superuser).encode())


def print_table(rows: Sequence[Row]) -> None:
    header = (
        "| tenants | `up` create | per tenant | no-change `up` | preview | refresh | `up` after adding 1 | "
        "sign-up (targeted `up`) | checkpoint |"
    )
    print(header)
    print("|" + " --- |" * 9)
    for r in rows:
        print(
            f"| {r.tenants} | {r.create:.1f} s | {r.per_tenant:.2f} s | {r.no_change_up:.1f} s | {r.preview:.1f} s | "
            f"{r.refresh:.1f} s | {r.add_one_up:.1f} s | {r.signup_targeted:.1f} s ({r.signup_changes}) | "
            f"{r.checkpoint_mb:.1f} MB |"
        )
    if len(rows) > 1:
        base = rows[0]
        print()
        for r in rows[1:]:
            print(
                f"{r.tenants} vs {base.tenants}: per-tenant create {r.per_tenant / base.per_tenant:.2f}x, "
                f"no-change up {r.no_change_up / base.no_change_up:.2f}x, "
                f"sign-up {r.signup_targeted / base.signup_targeted:.2f}x"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, nargs="+", default=[50, 100, 250])
    args = parser.parse_args(argv)
    if shutil.which("pulumi") is None:
        print(SKIP_MESSAGE)
        return 0
    logging.basicConfig(level=logging.WARNING)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows: list[Row] = []
    server = LocalPostgres().start()
    try:
        harden_admin(server)
        with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
            for n in args.tenants:
                rows.append(measure(n, server, Path(tmp)))
                print(f"# {n} tenants done", flush=True)
    finally:
        server.stop()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
