"""Benchmark: our Pulumi program under mocks against the SDK's floor, at 100, 500 and 1,000 tenants.

The floor is a bare loop that declares the same six resources per tenant (password, role, database,
public-revoke grant, Nomad variable, Nomad job) with the same SDK, providers and input values, computed
before the clock starts; it has no component, no registry, no configuration and no outputs. Both run
through `devkit.mockrun` (the same mocks and recording monitor), each in a fresh process, so neither
inherits the other's runtime state. Target: ours / floor <= 1.2 at every size.

The program sets the garbage collector's thresholds (`GC_THRESHOLDS` in __main__.py): that is the fix for
the cost that grew faster than the fleet. So that the ratio measures the program and not the collector,
the floor runs with the same thresholds; a second pair of columns runs both at CPython's defaults, "gc
gain" is how much faster the shipped program is than the same program at the defaults, and the last
column compares the shipped program with the floor as a user would write it (CPython's defaults).
Times are CPU seconds of the program run (the machine may be shared; wall time follows CPU time when idle).

Run: .venv/bin/python bench/bench_program.py [--tenants 100 500 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))

from bench_validate import build_registry  # noqa: E402

from railzway.registry import naming  # noqa: E402
from railzway.registry.loader import load_registry  # noqa: E402
from railzway.tenant import jobspec, password_rules, spec  # noqa: E402

REGION = "eu-west"
CONFIG = {
    "regions": {
        REGION: {
            "postgres": {
                "host": "127.0.0.1",
                "port": 5432,
                "username": "postgres",
                "sslmode": "disable",
                "tenantHost": "127.0.0.1",
            },
            "nomad": {"address": "http://127.0.0.1:4646", "region": "global", "namespace": "default"},
        }
    }
}

# The floor: the loop a Pulumi user would write by hand, reading precomputed values.
FLOOR_PROGRAM = """
import json
from pathlib import Path

import pulumi
import pulumi_nomad as nomad
import pulumi_postgresql as postgresql
import pulumi_random as random

from railzway.tenant import env as tenant_env

data = json.loads((Path(__file__).parent / "inputs.json").read_text())
pg = data["postgres"]
pg_provider = postgresql.Provider("postgresql-eu-west", host=pg["host"], port=pg["port"],
                                  username=pg["username"], sslmode=pg["sslmode"])
nomad_provider = nomad.Provider("nomad-eu-west", address=data["nomad"]["address"], region=data["nomad"]["region"])
for t in data["tenants"]:
    name = t["name"]
    pg_opts = pulumi.ResourceOptions(provider=pg_provider)
    keep = pulumi.ResourceOptions(provider=pg_provider, retain_on_delete=True)
    password = random.RandomPassword(f"{name}-password", length=data["length"], special=True,
                                     override_special=data["specials"], keepers={"rotation": t["rotation"]})
    role = postgresql.Role(f"{name}-role", name=t["role"], login=t["login"], password=password.result,
                           connection_limit=t["connection_limit"], **data["flags"], opts=keep)
    database = postgresql.Database(f"{name}-database", name=t["database"], owner=role.name, encoding="UTF8",
                                   template="template0", connection_limit=t["connection_limit"],
                                   allow_connections=t["login"], opts=keep)
    postgresql.Grant(f"{name}-revoke-public", database=database.name, role="public", object_type="database",
                     privileges=[], opts=pg_opts)
    if t["jobspec"] is None:
        continue
    items = password.result.apply(lambda secret, t=t: tenant_env.env_items(
        host=pg["tenantHost"], port=pg["port"], database=t["database"], user=t["role"], password=secret,
        sslmode=pg["sslmode"]))
    nomad_opts = pulumi.ResourceOptions(provider=nomad_provider)
    variable = nomad.Variable(f"{name}-variable", path=t["variable"], namespace="default",
                              items=pulumi.Output.secret(items), opts=nomad_opts)
    nomad.Job(f"{name}-job", jobspec=t["jobspec"], json=True,
              opts=pulumi.ResourceOptions(provider=nomad_provider, depends_on=[variable, database]))
"""

# Runs one program under mocks in this (fresh) process and prints its CPU time and resource count.
# `gc_thresholds` None: CPython's defaults, and the program's own `gc.set_threshold` is disabled.
RUNNER = """
import gc, json, sys, time
sys.path.insert(0, {project!r})
from devkit.mockrun import run_program
thresholds = {gc_thresholds!r}
if thresholds is None:
    gc.set_threshold = lambda *args: None
else:
    gc.set_threshold(*thresholds)
start = time.process_time()
run = run_program({registry!r}, {config!r}, project_dir={program_dir!r})
print(json.dumps({{"seconds": time.process_time() - start, "resources": len(run.resources)}}))
"""


def shipped_gc_thresholds() -> tuple[int, ...]:
    """`GC_THRESHOLDS` of the program's __main__.py (read, not imported: importing runs the program)."""
    tree = ast.parse((PROJECT / "__main__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "GC_THRESHOLDS" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise SystemExit("__main__.py defines no GC_THRESHOLDS")


def floor_inputs(registry_dir: Path) -> dict[str, object]:
    """The floor's per-tenant values, computed with the same pure functions as the component uses."""
    registry = load_registry(registry_dir)
    pg = CONFIG["regions"][REGION]["postgres"]
    nomad_cfg = CONFIG["regions"][REGION]["nomad"]
    tenants = []
    for tenant in registry.tenants.values():
        tier = registry.tier_of(tenant)
        terminated = tenant.status == "terminated"
        tenants.append(
            {
                "name": naming.resource_name(tenant.org_id),
                "role": naming.role_name(tenant.org_id),
                "database": naming.database_name(tenant.org_id),
                "variable": naming.variable_path(tenant.org_id),
                "rotation": tenant.password_rotation,
                "login": not terminated,
                "connection_limit": tier.connection_limit,
                "jobspec": None
                if terminated
                else jobspec.render_jobspec(
                    org_id=tenant.org_id,
                    image_repository="ghcr.io/smallbiznis/railzway",
                    version=tenant.version,
                    cpu=tier.cpu,
                    memory_mb=tier.memory_mb,
                    stopped=tenant.status == "stopped",
                    region="global",
                    namespace="default",
                    datacenters=["*"],
                ),
            }
        )
    return {
        "postgres": pg,
        "nomad": nomad_cfg,
        "length": password_rules.PASSWORD_LENGTH,
        "specials": password_rules.PASSWORD_SPECIALS,
        "flags": spec.RoleSpec.privilege_flags(),
        "tenants": tenants,
    }


def run_once(registry: Path, program_dir: Path, gc_thresholds: tuple[int, ...] | None) -> tuple[float, int]:
    code = RUNNER.format(
        project=str(PROJECT),
        registry=str(registry),
        config=CONFIG,
        program_dir=str(program_dir),
        gc_thresholds=gc_thresholds,
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT)
    if done.returncode != 0:
        raise SystemExit(f"program run failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["seconds"]), int(result["resources"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    thresholds = shipped_gc_thresholds()
    print(f"program under mocks vs the SDK floor: median CPU s of {args.repeat} runs, each in a fresh process")
    print(f"{'':>8} {'':>10} | gc thresholds {thresholds} (shipped) | CPython default gc     |")
    print(
        f"{'tenants':>8} {'resources':>10} | {'ours':>7} {'floor':>7} {'ratio':>6}      | {'ours':>6} {'floor':>6} "
        f"{'ratio':>6} | gc gain | shipped ours / floor at defaults"
    )
    worst = 0.0
    for count in args.tenants:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            registry = build_registry(root, count)
            floor_dir = root / "floor"
            floor_dir.mkdir()
            (floor_dir / "__main__.py").write_text(FLOOR_PROGRAM)
            (floor_dir / "inputs.json").write_text(json.dumps(floor_inputs(registry)))
            times: dict[tuple[str, bool], list[float]] = {}
            resources: dict[str, int] = {}
            for _ in range(args.repeat):
                # Interleaved, so a busy moment of a shared machine spreads over all four.
                for program, directory in (("ours", PROJECT), ("floor", floor_dir)):
                    for tuned in (True, False):
                        seconds, resources[program] = run_once(registry, directory, thresholds if tuned else None)
                        times.setdefault((program, tuned), []).append(seconds)
            med = {key: statistics.median(values) for key, values in times.items()}
            ratio = med[("ours", True)] / med[("floor", True)]
            default_ratio = med[("ours", False)] / med[("floor", False)]
            worst = max(worst, ratio)
            print(
                f"{count:>8} {resources['ours']:>5}/{resources['floor']:<4} | {med[('ours', True)]:>7.2f} "
                f"{med[('floor', True)]:>7.2f} {ratio:>6.2f}      | {med[('ours', False)]:>6.2f} "
                f"{med[('floor', False)]:>6.2f} {default_ratio:>6.2f} | {med[('ours', False)] / med[('ours', True)]:>5.2f}x  "
                f"| {med[('ours', True)] / med[('floor', False)]:>5.2f}"
            )
    print(f"worst ratio {worst:.2f} ({'meets' if worst <= 1.2 else 'MISSES'} the 1.2 target); resources: ours/floor")
    started = time.strftime("%Y-%m-%d %H:%M")
    print(
        f"run {started} on {platform.node() or sys.platform} ({os.cpu_count()} cores), python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
