"""Benchmark: `railzway backup` and `restore` of 100 tenants of a few MB each against pg_dump / pg_restore
run directly on the same databases, on a real server, in one run.

Starts its own throwaway PostgreSQL (devkit.localpg), creates N tenant databases of about `--mb` MB each
(one filled template, copied), then times, round by round:
  - backup: `backup_tenants` (pinned admin connection, pg_dump custom format streamed through SHA-256 into a
    file:// store via obstore, a manifest per tenant) / `pg_dump --format=custom --file=...` per database;
  - restore: `restore_into` per tenant (new database owned by the restore role, PUBLIC revoked, pg_restore
    from the store through stdin with the checksum verified) / CREATE DATABASE ... TEMPLATE template0 (what
    pg_restore's documentation asks for) + `pg_restore --dbname=... file` per database.
Both sides run tenant by tenant, back to back and in alternating order (load from other processes on the
shared machine falls on both alike), with the same pg_dump/pg_restore binaries. A round's ratio is the sum
of ours / the sum of direct over all tenants; the figure is the median over rounds. Goal: <= 1.2x.

    python bench/bench_backup.py [--tenants 100] [--mb 3] [--rounds 3] [--pg-dump-no-sync]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devkit.localpg import LocalPostgres
from railzway.admin.into_tenant import tenant_conninfo
from railzway.lifecycle.backup import Outcome, ServerTools, Target, backup_tenants, server_tools
from railzway.lifecycle.backup_store import BackupStore
from railzway.lifecycle.restore import restore_into
from railzway.registry import naming

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
    print(f"{tenants} tenant databases of {size[0] / 1024 / 1024 if size else 0:.1f} MB each", flush=True)
    return orgs


def drop_databases(server: LocalPostgres, names: list[str]) -> None:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def direct_backup(server: LocalPostgres, pg_dump: Path, org: int, out: Path, no_sync: bool) -> float:
    started = time.perf_counter()
    conninfo, env = tenant_conninfo(server.url(), naming.database_name(org))
    subprocess.run(
        [
            str(pg_dump),
            "--format=custom",
            "--no-password",
            *(["--no-sync"] if no_sync else []),
            f"--file={out / f'{org}.dump'}",
            f"--dbname={conninfo}",
        ],
        env=env,
        check=True,
    )
    return time.perf_counter() - started


def direct_restore(conn: psycopg.Connection, server: LocalPostgres, pg_restore: Path, org: int, dumps: Path) -> float:
    started = time.perf_counter()
    name = f"direct_{org}"
    # From template0, as pg_restore's documentation asks of a database to restore into (and as ours does).
    conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    conninfo, env = tenant_conninfo(server.url(), name)
    subprocess.run(
        [str(pg_restore), "--no-password", f"--dbname={conninfo}", str(dumps / f"{org}.dump")], env=env, check=True
    )
    return time.perf_counter() - started


def ours_backup(server: LocalPostgres, store: BackupStore, tools: ServerTools, org: int) -> tuple[float, Outcome]:
    started = time.perf_counter()
    [outcome] = backup_tenants(server.url(), store, tools, [Target(org, "eu-west")])
    return time.perf_counter() - started, outcome


def ours_restore(server: LocalPostgres, store: BackupStore, tools: ServerTools, outcome: Outcome) -> float:
    assert outcome.manifest is not None, outcome.error
    started = time.perf_counter()
    restore_into(server.url(), store, tools, outcome.manifest.dump, f"ours_{outcome.target.org_id}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--mb", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--pg-dump-no-sync",
        action="store_true",
        help="Run the direct pg_dump with --no-sync (it fsyncs its file by default; the file:// store does not).",
    )
    args = parser.parse_args()

    # A stopped benchmark still stops its server (the `finally` below runs on SIGTERM too).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = LocalPostgres().start()
    try:
        orgs = create_fleet(server, args.tenants, args.mb)
        tools = server_tools(server.url())
        backup_ratios, restore_ratios = [], []
        for round_ in range(1, args.rounds + 1):
            with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
                store = BackupStore(f"file://{tmp}/store")
                direct_dir = Path(tmp, "direct")
                direct_dir.mkdir()
                times = {"ours_backup": 0.0, "direct_backup": 0.0, "ours_restore": 0.0, "direct_restore": 0.0}
                dump_bytes = 0
                with psycopg.connect(server.url(), autocommit=True) as conn:
                    # Tenant by tenant, the two sides back to back and in alternating order, so that load
                    # from other processes on this shared machine falls on both alike.
                    for i, org in enumerate(orgs):
                        if i % 2 == 0:
                            seconds, outcome = ours_backup(server, store, tools, org)
                            times["direct_backup"] += direct_backup(
                                server, tools.pg_dump, org, direct_dir, args.pg_dump_no_sync
                            )
                        else:
                            times["direct_backup"] += direct_backup(
                                server, tools.pg_dump, org, direct_dir, args.pg_dump_no_sync
                            )
                            seconds, outcome = ours_backup(server, store, tools, org)
                        times["ours_backup"] += seconds
                        dump_bytes += outcome.manifest.size_bytes if outcome.manifest else 0
                        if i % 2 == 0:
                            times["ours_restore"] += ours_restore(server, store, tools, outcome)
                            times["direct_restore"] += direct_restore(conn, server, tools.pg_restore, org, direct_dir)
                        else:
                            times["direct_restore"] += direct_restore(conn, server, tools.pg_restore, org, direct_dir)
                            times["ours_restore"] += ours_restore(server, store, tools, outcome)
                drop_databases(server, [f"{side}_{org}" for org in orgs for side in ("ours", "direct")])
            backup_ratios.append(times["ours_backup"] / times["direct_backup"])
            restore_ratios.append(times["ours_restore"] / times["direct_restore"])
            print(
                f"round {round_}: {dump_bytes / 1024 / 1024:.0f} MB of dumps; "
                f"backup {times['ours_backup']:.1f} s vs pg_dump {times['direct_backup']:.1f} s "
                f"({backup_ratios[-1]:.2f}x); restore {times['ours_restore']:.1f} s vs pg_restore "
                f"{times['direct_restore']:.1f} s ({restore_ratios[-1]:.2f}x)",
                flush=True,
            )
        print(
            f"median of {args.rounds} rounds: backup {statistics.median(backup_ratios):.2f}x pg_dump, "
            f"restore {statistics.median(restore_ratios):.2f}x pg_restore (goal <= 1.2x)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
