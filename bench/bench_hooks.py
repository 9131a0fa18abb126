"""Benchmark: the Cloud DB writes of a hooked `pulumi up` against one `railzway sync` after the `up`.

Starts its own throwaway PostgreSQL (devkit.localpg) and migrates a Cloud DB. The engine cannot run here,
so the hooks are called as the engine calls them (`components.clouddb_hooks.RowHooks`, `ResourceHookArgs`
with secret Outputs, all of one `up` at once in one event loop): only the Cloud DB side is measured, which
is what this compares. For a shard of N tenants, in the same run:

  - create: an `up` from empty fires after-create on each tenant's component, role, database and job
    (4 N hooks, the first of each tenant writes, the others find the row equal) / one sync of N new tenants;
  - rotate one: an `up` that rotates one password fires one hook (the role's after-update) / the sync after
    that `up`, which reads and compares the whole stack to rewrite one row;
  - no change: an `up` without changes fires no hook at all / a no-op sync of N.

Each is repeated; figures are medians, ratios the median of each round's ratio (the two sides of a round are
seconds apart, so load from other processes on a shared machine hits both alike).

    python bench/bench_hooks.py [--tenants 250] [--rounds 5] [--pool 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pulumi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.clouddb_hooks import CloudDBSettings, RowHooks, RowWriter
from devkit.localpg import LocalPostgres
from railzway import clouddb

STACK = "prod-eu-west-01"
PARTS = {
    "": "railzway:index:TenantInstance",
    "-role": "postgresql:index/role:Role",
    "-database": "postgresql:index/database:Database",
    "-job": "nomad:index/job:Job",
}


def tenant(org: int, rotation: int = 0) -> dict[str, Any]:
    password = f"bench-{org:010d}-{rotation:04d}-" + "x" * 12
    return {
        "org_id": org,
        "db_host": "tenants-db.eu-west.internal",
        "db_port": 5432,
        "db_name": f"railzway_org_{org}",
        "db_user": f"railzway_user_{org}",
        "db_password": password,
        "database_url": f"postgres://railzway_user_{org}:{password}@tenants-db.eu-west.internal:5432/"
        f"railzway_org_{org}?sslmode=require",
        "nomad_job_id": f"railzway-org-{org}",
        "status": "running",
        "tier": "starter",
        "version": "1.8.2",
        "region": "eu-west",
    }


@dataclass
class Declared:
    """A tenant as the program holds it: its `tenants` output entry, the secrets as secret Outputs."""

    values: dict[str, Any]
    _made: tuple[asyncio.AbstractEventLoop, dict[str, Any]] | None = None

    @property
    def org_id(self) -> int:
        return int(self.values["org_id"])

    def outputs(self) -> dict[str, Any]:
        # Made once per `up` (event loop), as the component holds its Outputs for the whole program.
        loop = asyncio.get_running_loop()
        if self._made is None or self._made[0] is not loop:
            secret = ("db_password", "database_url")
            made = {k: pulumi.Output.secret(v) if k in secret else v for k, v in self.values.items()}
            self._made = (loop, made)
        return self._made[1]


def args(org: int, suffix: str) -> pulumi.ResourceHookArgs:
    name = f"org-{org}{suffix}"
    outputs = {"name": name}
    return pulumi.ResourceHookArgs(
        urn=f"urn:pulumi:{STACK}::railzway::{PARTS[suffix]}::{name}",
        id=name,
        name=name,
        type=PARTS[suffix],
        new_inputs=outputs,
        new_outputs=outputs,
    )


def fire(hooks: RowHooks, calls: list[tuple[int, str]]) -> float:
    """Run these hooks all at once, as one `up` would; seconds."""

    async def up() -> None:
        await asyncio.gather(*(hooks.after_write(args(org, suffix)) for org, suffix in calls))

    started = time.perf_counter()
    asyncio.run(up())
    return time.perf_counter() - started


def timed_sync(url: str, fleet: list[dict[str, Any]], keys: clouddb.KeyRing) -> tuple[float, clouddb.SyncSummary]:
    started = time.perf_counter()
    with clouddb.connect(url) as conn:
        summary = clouddb.sync(conn, {"tenants": {str(t["org_id"]): t for t in fleet}}, keys, stack=STACK)
    return time.perf_counter() - started, summary


def empty(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM instances")


def round_once(url: str, keys: clouddb.KeyRing, count: int, pool: int, index: int) -> dict[str, tuple[float, float]]:
    fleet = [tenant(200_000 + i) for i in range(count)]
    writer = RowWriter(CloudDBSettings(url, keys, "bench"), STACK, pool_size=pool)
    hooks = RowHooks(writer, lambda message: None)
    try:
        for values in fleet:
            hooks.track(Declared(values))
        every_part = [(t["org_id"], suffix) for suffix in PARTS for t in fleet]

        empty(url)
        hooked_create = fire(hooks, every_part)
        empty(url)
        synced_create, created = timed_sync(url, fleet, keys)
        assert created.inserted == count, created

        rotated = dict(fleet[0], **{k: v for k, v in tenant(fleet[0]["org_id"], index + 1).items()})
        hooks.track(Declared(rotated))
        hooked_rotate = fire(hooks, [(rotated["org_id"], "-role")])
        hooks.track(Declared(tenant(fleet[0]["org_id"], index + 2)))
        fleet[0] = tenant(fleet[0]["org_id"], index + 2)
        synced_rotate, rotated_summary = timed_sync(url, fleet, keys)
        assert rotated_summary.updated == 1, rotated_summary

        synced_nothing, unchanged = timed_sync(url, fleet, keys)
        assert unchanged.unchanged == count, unchanged
    finally:
        writer.close()
    return {
        "create": (hooked_create, synced_create),
        "rotate one": (hooked_rotate, synced_rotate),
        "no change": (0.0, synced_nothing),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pool", type=int, default=4)
    options = parser.parse_args()
    server = LocalPostgres().start()
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_hooks")
        url = server.url("bench_hooks")
        with psycopg.connect(url) as conn:
            clouddb.migrate(conn)
        keys = clouddb.parse_keys(clouddb.generate_key())
        rounds = [round_once(url, keys, options.tenants, options.pool, i) for i in range(options.rounds)]
    finally:
        server.stop()
    print(f"{options.tenants} tenants, pool of {options.pool}, {options.rounds} rounds (medians)")
    for scenario in rounds[0]:
        hooked = statistics.median(r[scenario][0] for r in rounds)
        synced = statistics.median(r[scenario][1] for r in rounds)
        ratios = [r[scenario][0] / r[scenario][1] for r in rounds if r[scenario][1]]
        print(
            f"  {scenario:<11} hooked up's writes {hooked * 1000:8.1f} ms   after-up sync {synced * 1000:8.1f} ms"
            f"   hooked/sync {statistics.median(ratios):6.2f}x"
        )


if __name__ == "__main__":
    main()
