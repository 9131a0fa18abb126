"""bench/bench_engine.py needs the real engine; without it, it says so and exits 0 (it is not a test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent.parent


def test_bench_engine_without_the_pulumi_cli_skips_with_its_reason(tmp_path: Path) -> None:
    # PATH holds only an empty directory: whatever this machine has, the script finds no `pulumi`.
    done = subprocess.run(
        [sys.executable, "bench/bench_engine.py", "--tenants", "5"],
        cwd=PROJECT,
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "skipped: bench_engine needs the Pulumi engine (the `pulumi` CLI and provider plugins on PATH)"
    )
