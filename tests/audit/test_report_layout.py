"""`railzway report`'s table as an operator sees it: 80 columns, every column headed, figures never split."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import termios
import time
from pathlib import Path

from audit_fleet import Fleet

HEADERS = ("org", "region", "tier", "status", "size", "quota", "used", "conns", "findings")
# A size or quota is a number and its unit on one line: "20.0 GiB", "8.1 MiB".
FIGURE = re.compile(r"\d+\.\d (?:KiB|MiB|GiB)")


def report_command(railzway_command: Path, fleet: Fleet, *extra: str) -> list[str]:
    return [str(railzway_command), "report", "--admin-url", fleet.url, "--registry", str(fleet.registry), *extra]


def on_a_terminal(args: list[str], columns: int) -> str:
    """Run `args` with a pseudo-terminal of `columns` columns as its stdout; what it printed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(args, stdout=follower, stderr=subprocess.PIPE, env=env)
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes once the process is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    return b"".join(chunks).decode().replace("\r\n", "\n")


def header_line(lines: list[str]) -> str:
    return next(line for line in lines if line.split()[:2] == ["org", "region"])


def test_piped_report_fits_80_columns_with_every_column_headed(railzway_command: Path, fleet: Fleet) -> None:
    result = subprocess.run(report_command(railzway_command, fleet), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    assert header_line(lines).split() == list(HEADERS)


def test_report_on_an_80_column_terminal_keeps_figures_whole(railzway_command: Path, fleet: Fleet) -> None:
    text = on_a_terminal(report_command(railzway_command, fleet), 80)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = [line for line in plain.splitlines() if line.strip()]
    assert max(len(line) for line in lines) <= 80, plain
    assert header_line(lines).split() == list(HEADERS)
    assert "…" not in plain
    rows = [line for line in lines if re.match(r"\s*\d+ ", line)]
    assert rows, plain
    for row in rows:
        # Every figure is whole on its row: size (or "-"), quota, used and connections.
        assert len(FIGURE.findall(row)) >= 1 and re.search(r"\d+/\d+", row), row


def test_a_long_finding_wraps_inside_its_column(railzway_command: Path, fleet: Fleet, tmp_path: Path) -> None:
    # A registry with one more tenant, whose database does not exist: its row says "database missing".
    registry = tmp_path / "tenants"
    shutil.copytree(fleet.registry, registry)
    first = sorted((registry / "orgs").glob("*.yaml"))[0]
    (registry / "orgs" / "999999.yaml").write_text(first.read_text().replace(f"org_id: {first.stem}", "org_id: 999999"))
    args = [str(railzway_command), "report", "--admin-url", fleet.url, "--registry", str(registry)]
    text = re.sub(r"\x1b\[[0-9;]*m", "", on_a_terminal(args, 70))
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if re.match(r"\s*999999 ", line))
    assert "database" in lines[row]
    assert lines[row + 1].strip() == "missing", text
    assert max(len(line) for line in lines) <= 70


def test_json_output_is_kept_for_machines(railzway_command: Path, fleet: Fleet) -> None:
    result = subprocess.run(
        report_command(railzway_command, fleet, "--format", "json"), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert {row["org_id"] for row in document["tenants"]} == set(fleet.passwords)
