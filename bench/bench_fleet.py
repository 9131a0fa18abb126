"""Benchmark: the fleet curve. 1,000, 2,000 and 5,000 tenants as shards of 250, run by the fleet runner
under mocks, against one stack of 5,000 for contrast.

Each shard stack is a `railzway.fleet.run_fleet` job whose program runs under `devkit.mockrun` in a
process of its own (as each real stack's program runs in its own language host), `--parallel` at once
(default: the number of cores). The single stack is the same program given every tenant. Target: the
fleet's total time grows linearly with tenants, 5,000 costing at most 5.5x 1,000.

Printed per size: wall time of the whole fleet run, the sum of the programs' CPU seconds (steady on a
shared machine, where wall time also counts other work), and both relative to 1,000 tenants.

Run: .venv/bin/python bench/bench_fleet.py [--tenants 1000 2000 5000] [--single 5000] [--parallel K]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))

from bench_program import CONFIG  # noqa: E402
from bench_validate import build_registry  # noqa: E402

from railzway.engine.stacks import Changes, OnOutput, Operation, StackRef, StackResult  # noqa: E402
from railzway.fleet import run_fleet  # noqa: E402
from railzway.registry.loader import load_registry  # noqa: E402
from railzway.registry.shards import stacks_of  # noqa: E402

SHARD_SIZE = 250

# One stack's program under mocks, in a fresh process: prints its resource count and CPU seconds.
RUNNER = """
import json, sys, time
sys.path.insert(0, {project!r})
from devkit.mockrun import run_program
start = time.process_time()
run = run_program({registry!r}, {config!r}, stack={stack!r})
print(json.dumps({{"resources": len(run.resources), "cpu": time.process_time() - start}}))
"""


class MockProcessStacks:
    """A `StackRunner` whose stacks are the program under mocks, one process per run: `preview` of a new
    stack, where every declared resource is a create."""

    def __init__(self, registry: Path) -> None:
        self.registry = registry
        self.cpu: dict[str, float] = {}
        self._lock = threading.Lock()

    def run(
        self,
        stack: StackRef,
        operation: Operation,
        *,
        targets: Sequence[str] = (),
        on_output: OnOutput | None = None,
    ) -> StackResult:
        config: dict[str, Any] = {**CONFIG, "shards": list(stack.shards or ())}
        code = RUNNER.format(project=str(PROJECT), registry=str(self.registry), config=config, stack=stack.name)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT)
        if done.returncode != 0:
            raise RuntimeError(f"error: {stack.name}: {done.stderr.strip().splitlines()[-1]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        with self._lock:
            self.cpu[stack.name] = float(result["cpu"])
        return StackResult(stack.name, operation, Changes(creates=int(result["resources"])))

    def outputs(self, stack: StackRef) -> dict[str, Any]:
        return {}


def run_sizes(tenants: int, refs: list[StackRef] | None, parallel: int) -> tuple[float, float, int, int]:
    """(wall s, summed program CPU s, stacks, resources) of one fleet preview."""
    with tempfile.TemporaryDirectory() as tmp:
        registry = build_registry(Path(tmp), tenants)
        stacks = refs or [StackRef.of(s) for s in stacks_of(load_registry(registry), "bench")]
        runner = MockProcessStacks(registry)
        report = run_fleet(stacks, "preview", runner, parallel=parallel)
        if not report.ok:
            raise SystemExit(f"fleet run failed: {[o.error for o in report.outcomes if o.failed]}")
        creates = sum(o.changes.creates for o in report.outcomes if o.changes)
        return report.seconds, sum(runner.cpu.values()), len(stacks), creates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, nargs="+", default=[1000, 2000, 5000])
    parser.add_argument("--single", type=int, default=5000, help="tenants of the one-stack contrast (0: skip)")
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    print(f"fleet preview under mocks: shards of {SHARD_SIZE}, {args.parallel} stacks at once, one process per stack")
    print(f"{'tenants':>8} {'stacks':>7} {'resources':>10} {'wall s':>8} {'x':>6} {'cpu s':>8} {'x':>6}")
    base: tuple[float, float] | None = None
    figures: dict[int, tuple[float, float]] = {}
    for count in args.tenants:
        wall, cpu, stacks, resources = run_sizes(count, None, args.parallel)
        figures[count] = (wall, cpu)
        base = base or (wall, cpu)
        print(
            f"{count:>8} {stacks:>7} {resources:>10} {wall:>8.1f} {wall / base[0]:>6.2f} {cpu:>8.1f} "
            f"{cpu / base[1]:>6.2f}"
        )
    if args.single:
        wall, cpu, _, resources = run_sizes(args.single, [StackRef("bench-single", ())], 1)
        print(f"{args.single:>8} {1:>7} {resources:>10} {wall:>8.1f} {'':>6} {cpu:>8.1f}   one stack, for contrast")
    if 1000 in figures and 5000 in figures:
        wall_x = figures[5000][0] / figures[1000][0]
        cpu_x = figures[5000][1] / figures[1000][1]
        verdict = "meets" if wall_x <= 5.5 else "MISSES"
        print(f"5,000 / 1,000 tenants: wall {wall_x:.2f}x, cpu {cpu_x:.2f}x ({verdict} the 5.5x target on wall time)")
    print(
        f"run {time.strftime('%Y-%m-%d %H:%M')} on {platform.node() or sys.platform} ({os.cpu_count()} cores), "
        f"python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
