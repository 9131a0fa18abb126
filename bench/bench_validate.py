"""Benchmark: `railzway validate` over a registry of 10,000 tenant files (target: under 2 s).

Run: .venv/bin/python bench/bench_validate.py [--tenants N] [--repeat R]
Prints the median of R runs of the whole command (a fresh process, as CI runs it) and of the loader alone.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from railzway.registry.loader import check_registry  # noqa: E402


def build_registry(root: Path, tenants: int) -> Path:
    registry = root / "tenants"
    (registry / "orgs").mkdir(parents=True)
    for name in ("tiers.yaml",):
        shutil.copy(PROJECT / "tenants" / name, registry / name)
    shards = max(1, -(-tenants // 250))
    (registry / "regions.yaml").write_text(
        f"default: eu-west\nmax_tenants_per_shard: 250\nregions:\n  eu-west:\n    shards: {shards}\n"
    )
    for i in range(tenants):
        org = 100_000 + i
        (registry / "orgs" / f"{org}.yaml").write_text(
            f'org_id: {org}\ntier: {"growth" if i % 3 == 0 else "starter"}\nversion: "1.8.{i % 7}"\n'
            f"status: {('running', 'running', 'stopped', 'terminated')[i % 4]}\nregion: eu-west\n"
            f'shard: {i // 250}\nsubscription_id: sub_{org:012d}\npassword_rotation: "{i % 5}"\n'
        )
    return registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        registry = build_registry(Path(tmp), args.tenants)
        loader_times, command_times = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result, problems = check_registry(registry)
            loader_times.append(time.perf_counter() - start)
            assert result is not None and len(result.tenants) == args.tenants, problems[:3]
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "railzway", "validate", str(registry)],
                cwd=PROJECT,
                capture_output=True,
                text=True,
            )
            command_times.append(time.perf_counter() - start)
            assert done.returncode == 0, done.stderr
    print(f"validate {args.tenants} tenant files ({args.repeat} runs, median)")
    print(f"  loader alone (in process): {statistics.median(loader_times):.3f} s")
    print(f"  whole command (new process): {statistics.median(command_times):.3f} s   target < 2 s")
    print(f"  per file: {statistics.median(command_times) / args.tenants * 1e6:.0f} us")


if __name__ == "__main__":
    main()
