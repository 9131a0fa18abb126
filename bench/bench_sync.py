"""Benchmark: `railzway sync` of 10,000 tenants against a plain COPY of the same rows, on a real server.

Starts its own throwaway PostgreSQL (devkit.localpg), migrates a Cloud DB, and times in the same run:
  - a sync of N new tenants (validation, encryption, fingerprints, COPY into a temporary table, one upsert);
  - a plain COPY of the very rows that sync wrote into a same-shaped table (LIKE instances INCLUDING ALL),
    in text format (COPY's default) and, since the sync's own COPY is binary, in binary format too;
  - a no-op sync of the same outputs (reads and compares, writes nothing).
Each is repeated; the ratios are the median of each round's ratio (the two runs of a round are seconds
apart, so load from other processes on a shared machine hits both alike). The issue asks sync <= 3x COPY
and a no-op sync faster than a sync.

    python bench/bench_sync.py [--tenants 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devkit.localpg import LocalPostgres
from railzway import clouddb

COLUMNS = (
    "org_id, nomad_job_id, desired_version, current_version, status, tier, compute_engine, db_host, db_port, "
    "db_name, db_user, db_password, db_password_key_id, db_password_fingerprint, region, source_stack, "
    "created_at, updated_at"
)

COLUMN_TYPES = ["bigint", *["text"] * 7, "integer", *["text"] * 7, "timestamp", "timestamp"]


def fleet(count: int) -> dict[str, Any]:
    tenants: dict[str, Any] = {}
    for i in range(count):
        org = 100_000 + i
        password = f"bench-{org:010d}-" + "x" * 16
        tenants[str(org)] = {
            "org_id": org,
            "db_host": "tenants-db.eu-west.internal",
            "db_port": 5432,
            "db_name": f"railzway_org_{org}",
            "db_user": f"railzway_user_{org}",
            "db_password": password,
            "database_url": f"postgres://railzway_user_{org}:{password}@tenants-db.eu-west.internal:5432/"
            f"railzway_org_{org}?sslmode=require",
            "nomad_job_id": f"railzway-org-{org}" if i % 10 else None,
            "status": "running" if i % 7 else "stopped",
            "tier": "starter" if i % 3 else "growth",
            "version": "1.8.2",
            "region": "eu-west" if i % 2 else "us-east",
        }
    return {"tenants": tenants}


def timed_sync(
    conn: psycopg.Connection, outputs: dict[str, Any], keys: clouddb.KeyRing
) -> tuple[float, clouddb.SyncSummary]:
    start = time.perf_counter()
    summary = clouddb.sync(conn, outputs, keys)
    return time.perf_counter() - start, summary


def timed_copy(conn: psycopg.Connection, rows: list[tuple[Any, ...]], binary: bool) -> float:
    conn.execute("TRUNCATE instances_plain_copy")
    statement = f"COPY instances_plain_copy ({COLUMNS}) FROM STDIN" + (" (FORMAT BINARY)" if binary else "")
    start = time.perf_counter()
    with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
        if binary:
            copy.set_types(COLUMN_TYPES)
        for row in rows:
            copy.write_row(row)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    outputs = fleet(args.tenants)
    keys = clouddb.parse_keys(clouddb.generate_key())
    with LocalPostgres() as server, psycopg.connect(server.url(), autocommit=True) as conn:
        clouddb.migrate(conn)
        conn.execute("CREATE TABLE instances_plain_copy (LIKE instances INCLUDING ALL)")
        syncs, copies, binary_copies, noops = [], [], [], []
        for _ in range(args.rounds):
            conn.execute("TRUNCATE instances, instances_plain_copy")
            conn.execute("VACUUM ANALYZE instances")
            conn.execute("VACUUM ANALYZE instances_plain_copy")
            seconds, summary = timed_sync(conn, outputs, keys)
            assert summary.inserted == args.tenants, summary
            syncs.append(seconds)
            rows = conn.execute(f"SELECT {COLUMNS} FROM instances ORDER BY org_id").fetchall()
            copies.append(timed_copy(conn, rows, binary=False))
            binary_copies.append(timed_copy(conn, rows, binary=True))
            seconds, summary = timed_sync(conn, outputs, keys)
            assert summary.unchanged == args.tenants, summary
            noops.append(seconds)

    def median_ratio(numerators: list[float], denominators: list[float]) -> float:
        # Each round's pair ran seconds apart, so a burst of load on a shared machine hits both alike.
        return statistics.median(n / d for n, d in zip(numerators, denominators, strict=True))

    sync_m, copy_m, binary_m, noop_m = (statistics.median(x) * 1000 for x in (syncs, copies, binary_copies, noops))
    sync_ratio = median_ratio(syncs, copies)
    noop_ratio = median_ratio(noops, syncs)
    print(f"tenants: {args.tenants}, rounds: {args.rounds}; medians of the times and of each round's ratios")
    print(f"plain COPY of the same rows:       {copy_m:5.0f} ms")
    print(f"  the same COPY in binary format:  {binary_m:5.0f} ms")
    print(
        f"sync, all new:                     {sync_m:5.0f} ms  = {sync_ratio:.2f}x plain COPY (limit 3x), "
        f"{median_ratio(syncs, binary_copies):.2f}x binary COPY"
    )
    print(
        f"no-op sync:                        {noop_m:5.0f} ms  = {median_ratio(noops, copies):.2f}x plain COPY, "
        f"{noop_ratio:.2f}x sync"
    )
    if sync_ratio > 3 or noop_ratio >= 1:
        print("FAIL: sync must take at most 3x the COPY, and a no-op sync less than a sync", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
