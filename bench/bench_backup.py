"""Benchmark: `railzway backup` and `restore` of 100 tenants of a few MB each against pg_dump / pg_restore
run directly on the same databases, on a real server, in one run.

Starts its own throwaway PostgreSQL (railzway.localpg), creates N tenant databases of about `--mb` MB each
(one filled template, copied), then times, round by round:
  - backup: `backup_tenants` (pinned admin connection, pg_dump custom format streamed through SHA-256 into a
    file:// store via obstore, a manifest per tenant) / `pg_dump --format=custom --file=...` per database;
  - restore: `restore_into` per tenant (new database owned by the restore role, PUBLIC revoked, pg_restore
    from the store through stdin with the checksum verified) / CREATE DATABASE ... TEMPLATE template0 (what
    pg_restore's documentation asks for) + `pg_restore --dbname=... file` per database.
Both sides run one tenant after another, in one process each, with the same pg_dump/pg_restore binaries.
The ratio of a round is ours / direct; the figure is the median over rounds (the two sides of a round run
seconds apart, so load from other processes on the shared machine hits both alike). Goal: <= 1.2x.

    python bench/bench_backup.py [--tenants 100] [--mb 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from railzway import naming
from railzway.lifecycle.admin import tenant_conninfo
from railzway.lifecycle.backup import Target, backup_tenants, server_tools
from railzway.lifecycle.restore import restore_into
from railzway.lifecycle.store import BackupStore
from railzway.localpg import LocalPostgres

FIRST_ORG = 500_000
ROW_BYTES = 200


def create_fleet(server: LocalPostgres, tenants: int, mb: float) -> list[int]:
    rows = int(mb * 1024 * 1024 / ROW_BYTES)
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench_template")
    with psycopg.connect(server.url("bench_template"), autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id bigint PRIMARY KEY, customer text NOT NULL, lines jsonb, note text)")
        conn.execute(
            "INSERT INTO invoices SELECT g, 'customer-' || (g %% 97), jsonb_build_object('n', g, 'cents', g * 7), "
            "md5(g::text) || md5((g * 3)::text) || md5((g * 7)::text) FROM generate_series(1, %s) g",
            (rows,),
        )
        conn.execute("CREATE INDEX invoices_customer ON invoices (customer)")
        conn.execute("VACUUM ANALYZE invoices")
    orgs = [FIRST_ORG + i for i in range(tenants)]
    with psycopg.connect(server.url(), autocommit=True) as conn:
        for org in orgs:
            role, db = sql.Identifier(naming.role_name(org)), sql.Identifier(naming.database_name(org))
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE bench_template OWNER {}").format(db, role))
        size = conn.execute("SELECT pg_database_size('bench_template')").fetchone()
    print(f"{tenants} tenant databases of {size[0] / 1024 / 1024 if size else 0:.1f} MB each")
    return orgs


def drop_databases(server: LocalPostgres, names: list[str]) -> None:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def direct_backup(server: LocalPostgres, pg_dump: Path, orgs: list[int], out: Path) -> float:
    started = time.perf_counter()
    for org in orgs:
        conninfo, env = tenant_conninfo(server.url(), naming.database_name(org))
        subprocess.run(
            [str(pg_dump), "--format=custom", "--no-password", f"--file={out / f'{org}.dump'}", f"--dbname={conninfo}"],
            env=env,
            check=True,
        )
    return time.perf_counter() - started


def direct_restore(server: LocalPostgres, pg_restore: Path, orgs: list[int], dumps: Path) -> float:
    started = time.perf_counter()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        for org in orgs:
            name = f"direct_{org}"
            # From template0, as pg_restore's documentation asks of a database to restore into (and as ours does).
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
            conninfo, env = tenant_conninfo(server.url(), name)
            subprocess.run(
                [str(pg_restore), "--no-password", f"--dbname={conninfo}", str(dumps / f"{org}.dump")],
                env=env,
                check=True,
            )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--mb", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    server = LocalPostgres().start()
    try:
        orgs = create_fleet(server, args.tenants, args.mb)
        tools = server_tools(server.url())
        targets = [Target(org, "eu-west") for org in orgs]
        backup_ratios, restore_ratios = [], []
        for round_ in range(1, args.rounds + 1):
            with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
                store = BackupStore(f"file://{tmp}/store")
                direct_dir = Path(tmp, "direct")
                direct_dir.mkdir()

                started = time.perf_counter()
                outcomes = backup_tenants(server.url(), store, tools, targets)
                ours_backup = time.perf_counter() - started
                assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
                theirs_backup = direct_backup(server, tools.pg_dump, orgs, direct_dir)
                total_mb = sum(o.manifest.size_bytes for o in outcomes if o.manifest) / 1024 / 1024

                started = time.perf_counter()
                for outcome in outcomes:
                    assert outcome.manifest is not None
                    restore_into(server.url(), store, tools, outcome.manifest.dump, f"ours_{outcome.target.org_id}")
                ours_restore = time.perf_counter() - started
                theirs_restore = direct_restore(server, tools.pg_restore, orgs, direct_dir)
                drop_databases(server, [f"{side}_{org}" for org in orgs for side in ("ours", "direct")])

            backup_ratios.append(ours_backup / theirs_backup)
            restore_ratios.append(ours_restore / theirs_restore)
            print(
                f"round {round_}: {total_mb:.0f} MB of dumps; backup {ours_backup:.2f} s vs pg_dump {theirs_backup:.2f} s "
                f"({backup_ratios[-1]:.2f}x, {total_mb / ours_backup:.1f} MB/s); restore {ours_restore:.2f} s vs "
                f"pg_restore {theirs_restore:.2f} s ({restore_ratios[-1]:.2f}x)"
            )
        print(
            f"median of {args.rounds} rounds: backup {statistics.median(backup_ratios):.2f}x pg_dump, "
            f"restore {statistics.median(restore_ratios):.2f}x pg_restore (goal <= 1.2x)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
