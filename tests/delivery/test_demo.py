"""`make demo` from a fresh clone: runs end to end, names what it skips, never prints a secret."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROJECT


def run_demo(verb: str, demo_dir: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAILZWAY_DEMO_DIR": str(demo_dir), "PATH": path}
    env.pop("NOMAD_ADDR", None)
    return subprocess.run(
        [sys.executable, "-m", "devkit.demo", verb],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def demo_dir() -> Iterator[Path]:
    # The demo's PostgreSQL runs as the postgres user, which must reach the directory: pytest's tmp_path
    # sits under a root-only directory, so use a fresh directory directly under the system's temp dir.
    parent = Path(tempfile.mkdtemp(prefix="railzway-demo-test-"))
    parent.chmod(0o755)
    yield parent / "demo"
    shutil.rmtree(parent, ignore_errors=True)


def path_without_pulumi() -> str:
    return os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "pulumi").exists())


def test_demo_without_the_pulumi_cli_says_so_up_front_and_completes(demo_dir: Path) -> None:
    try:
        result = run_demo("up", demo_dir, path_without_pulumi())
        secrets = json.loads((demo_dir / "state.json").read_text())
    finally:
        down = run_demo("down", demo_dir, path_without_pulumi())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    head = output.splitlines()[:3]
    assert "pulumi CLI : NOT on PATH" in head[1] and "Nomad      : no agent" in head[2]
    assert "[3/6] pulumi up: SKIPPED (the pulumi CLI is not on PATH)" in output
    assert "8 x railzway:index:TenantInstance" in output
    assert "cloud-db: applied 000001_create_instances_table" in output
    assert "postgres://railzway_user_1001@127.0.0.1:" in output
    assert "Traceback" not in output and "Exception ignored" not in output
    for secret in (secrets["admin_password"], secrets["credentials_key"], secrets["passphrase"]):
        assert secret not in output
    assert down.returncode == 0 and not demo_dir.exists()
    # The audit fails on purpose (nothing was deployed): the line after its error says it is expected.
    lines = output.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("  error: audit failed: 18 findings"))
    assert lines[failed + 1].startswith("  -> expected result: every tenant is missing because nothing was deployed")
    # Nothing to read passwords from without the CLI, so the closing hint does not send one to `pulumi`.
    assert "pulumi stack output" not in output
    assert "install the pulumi CLI (https://www.pulumi.com/docs/install/)" in output


def test_a_second_demo_says_so_in_one_line_and_starts_nothing(demo_dir: Path) -> None:
    demo_dir.mkdir()
    (demo_dir / "state.json").write_text("{}")
    result = run_demo("up", demo_dir, path_without_pulumi())
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: a demo is already running (its state is in {demo_dir}): `make demo-down` first"
    ]
    assert sorted(p.name for p in demo_dir.iterdir()) == ["state.json"]


@pytest.mark.e2e
def test_demo_with_the_pulumi_cli_deploys_syncs_and_audits_clean(demo_dir: Path) -> None:
    try:
        result = run_demo("up", demo_dir, os.environ["PATH"])
    finally:
        run_demo("down", demo_dir, os.environ["PATH"])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "created " in output and "8 inserted" in output
    # The audit's summary line when it finds nothing: "audit of <user>@<server> (PostgreSQL <v>): 8 tenants:
    # clean (7 statements, <t> s)" (railzway.audit.render.summary).
    assert ": 8 tenants: clean (" in output
    assert "audit failed" not in output
