"""What the registry reader opens: regular files only, each read capped, each odd entry named for what it is.

Every test runs `python -m railzway validate` in a subprocess (a FIFO that blocked the reader would hit
the subprocess timeout) and checks that the other problems of the run are still reported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from railzway.registry.access import RegistryAccess, RegistryUnavailable
from railzway.registry.loader import MAX_FILE_BYTES
from tests.conftest import PROJECT

VALID = 'org_id: {org}\ntier: starter\nversion: "1.8.2"\nstatus: running\nregion: us-east\nshard: 0\n'


def railzway(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "railzway", *args], capture_output=True, text=True, cwd=PROJECT, timeout=60
    )


def with_another_problem(registry_dir: Path) -> str:
    """A second, ordinary problem in the same run: it must be reported too."""
    (registry_dir / "orgs" / "3999.yaml").write_text(VALID.format(org=3999).replace("starter", "gold"))
    return "3999.yaml:2: error: tier: unknown tier 'gold'"


def assert_reported(result: subprocess.CompletedProcess[str], *lines: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for line in lines:
        assert line in result.stderr, f"{line!r} not in:\n{result.stderr}"


def test_a_link_out_of_the_registry_is_not_followed(registry_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secrets.json"
    outside.write_text('{"org_id": 3001, "password": "hunter2-outside-the-registry"}\n')
    (registry_dir / "orgs" / "3001.yaml").symlink_to(outside)
    other = with_another_problem(registry_dir)
    result = railzway("validate", str(registry_dir))
    assert_reported(
        result,
        f"3001.yaml: error: a symbolic link (to '{outside}'): the registry follows no links",
        other,
    )
    assert "hunter2" not in result.stderr + result.stdout


def test_a_dangling_link_says_it_is_a_link_to_nothing(registry_dir: Path) -> None:
    (registry_dir / "orgs" / "1003.yaml").unlink()
    (registry_dir / "orgs" / "1003.yaml").symlink_to("1003-old.yaml")
    result = railzway("validate", str(registry_dir))
    assert_reported(result, "1003.yaml: error: a symbolic link (to '1003-old.yaml', which does not exist)")
    assert "tenant files are orgs/<org_id>.yaml" not in result.stderr


def test_a_link_loop_is_a_problem_of_its_file_and_the_rest_is_still_checked(registry_dir: Path) -> None:
    (registry_dir / "orgs" / "3001.yaml").symlink_to("3001.yaml")
    other = with_another_problem(registry_dir)
    assert_reported(
        railzway("validate", str(registry_dir)),
        "3001.yaml: error: a symbolic link (to '3001.yaml', a link loop)",
        other,
    )


def test_a_fifo_does_not_block_the_reader(registry_dir: Path) -> None:
    os.mkfifo(registry_dir / "orgs" / "3001.yaml")
    other = with_another_problem(registry_dir)
    assert_reported(
        railzway("validate", str(registry_dir)), "3001.yaml: error: a named pipe (FIFO), not a regular file", other
    )


def test_a_directory_named_like_a_tenant_file_says_it_is_a_directory(registry_dir: Path) -> None:
    (registry_dir / "orgs" / "3001.yaml").mkdir()
    result = railzway("validate", str(registry_dir))
    assert_reported(result, "3001.yaml: error: a directory, not a regular file")
    assert "tenant files are orgs/<org_id>.yaml" not in result.stderr


def test_a_badly_named_entry_says_what_it_is_and_how_files_are_named(registry_dir: Path) -> None:
    (registry_dir / "orgs" / "drafts").mkdir()
    assert_reported(
        railzway("validate", str(registry_dir)),
        "orgs/drafts: error: a directory, not a regular file; tenant files are orgs/<org_id>.yaml",
    )


def test_a_linked_orgs_directory_or_catalogue_is_refused(registry_dir: Path, tmp_path: Path) -> None:
    (registry_dir / "orgs").rename(tmp_path / "elsewhere")
    (registry_dir / "orgs").symlink_to(tmp_path / "elsewhere")
    (registry_dir / "tiers.yaml").rename(tmp_path / "tiers.yaml")
    (registry_dir / "tiers.yaml").symlink_to(tmp_path / "tiers.yaml")
    assert_reported(
        railzway("validate", str(registry_dir)),
        f"{registry_dir}/orgs: error: a symbolic link (to '{tmp_path / 'elsewhere'}')",
        f"{registry_dir}/tiers.yaml: error: a symbolic link (to '{tmp_path / 'tiers.yaml'}')",
    )


@pytest.mark.parametrize("depth", [1_000, 30_000])
def test_deeply_nested_brackets_are_a_problem_of_their_file(registry_dir: Path, depth: int) -> None:
    # 30,000 levels fit in 64 KiB; LibYAML's composer would crash the process on them.
    (registry_dir / "orgs" / "3001.yaml").write_text("org_id: 3001\nextra: " + "[" * depth + "]" * depth + "\n")
    other = with_another_problem(registry_dir)
    assert_reported(railzway("validate", str(registry_dir)), "3001.yaml:2: error: nested more than 16 levels", other)


def test_a_date_that_does_not_exist_is_a_problem_not_a_crash(registry_dir: Path) -> None:
    text = VALID.format(org=3001).replace("starter", "growth") + "downgrade:\n  tier: starter\n  at: 2026-13-01\n"
    (registry_dir / "orgs" / "3001.yaml").write_text(text)
    assert_reported(railzway("validate", str(registry_dir)), "3001.yaml: error: a value YAML cannot read")


def test_the_service_reads_a_tenant_file_as_the_registry_does(registry_dir: Path, tmp_path: Path) -> None:
    access = RegistryAccess(registry_dir)
    (registry_dir / "orgs" / "3001.yaml").write_text(VALID.format(org=3001) + "#" * MAX_FILE_BYTES + "\n")
    with pytest.raises(RegistryUnavailable, match=r"3001\.yaml: error: file is larger than 64 KiB"):
        access.tenant(3001)
    os.mkfifo(registry_dir / "orgs" / "3002.yaml")
    with pytest.raises(RegistryUnavailable, match=r"3002\.yaml: error: a named pipe \(FIFO\)"):
        access.tenant(3002)
    (tmp_path / "outside.yaml").write_text(VALID.format(org=3003))
    (registry_dir / "orgs" / "3003.yaml").symlink_to(tmp_path / "outside.yaml")
    with pytest.raises(RegistryUnavailable, match=r"3003\.yaml: error: a symbolic link"):
        access.tenant(3003)
    assert access.tenant(3004) is None
