"""The fleet commands as an operator runs them: `python -m railzway ...` in a subprocess.

PATH holds only an empty directory and the interpreter's own, so "no pulumi CLI" is the same on every
machine; the commands that need the engine must then stop with one clean line and exit 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fleet_fakes import PROJECT, write_tenant_file

from railzway.registry.loader import load_registry

MakeRegistry = Callable[..., Path]


def railzway(*args: str, path_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAILZWAY_", "PULUMI_"))}
    env["PATH"] = os.pathsep.join([str(path_dir), str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    return subprocess.run(
        [sys.executable, "-m", "railzway", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env=env,
        timeout=60,
    )


@pytest.fixture
def no_pulumi(tmp_path: Path) -> Path:
    empty = tmp_path / "bin"
    empty.mkdir()
    if any((Path(d) / "pulumi").exists() for d in (Path(sys.executable).parent, Path("/usr/bin"), Path("/bin"))):
        pytest.skip("a pulumi CLI is installed next to python or in /usr/bin: cannot hide it from the command")
    return empty


def test_fleet_stacks_lists_each_shard_stack_with_its_tenant_count(
    make_registry: MakeRegistry, no_pulumi: Path
) -> None:
    registry = make_registry(
        [{"org_id": 1, "shard": 0}, {"org_id": 2, "shard": 0, "status": "stopped"}, {"org_id": 3, "shard": 2}]
    )
    result = railzway("fleet", "stacks", "--registry", str(registry), "--environment", "staging", path_dir=no_pulumi)
    assert result.returncode == 0, result.stderr
    rows = [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in result.stdout.splitlines()
        if "staging-" in line
    ]
    assert rows == [
        ["staging-eu-west-00", "eu-west", "0", "2", "1"],
        ["staging-eu-west-01", "eu-west", "1", "0", "0"],
        ["staging-eu-west-02", "eu-west", "2", "1", "1"],
        ["staging-us-east-00", "us-east", "0", "0", "0"],
    ]
    assert result.stdout.strip().splitlines()[-1] == "4 stacks, 3 tenants"


def test_fleet_preview_without_the_pulumi_cli_stops_with_one_line(make_registry: MakeRegistry, no_pulumi: Path) -> None:
    registry = make_registry([{"org_id": 1, "shard": 0}])
    result = railzway("fleet", "preview", "--registry", str(registry), path_dir=no_pulumi)
    assert result.returncode == 2
    assert result.stderr.startswith("error: the pulumi CLI is not on PATH")
    assert len(result.stderr.strip().splitlines()) == 1


def test_changed_only_without_a_base_reads_the_registry_from_git(make_registry: MakeRegistry, no_pulumi: Path) -> None:
    registry = make_registry([{"org_id": 1, "shard": 0}])
    result = railzway("fleet", "up", "--changed-only", "--registry", str(registry), path_dir=no_pulumi)
    assert result.returncode == 2
    assert result.stderr.startswith("error: git rev-parse --show-toplevel: fatal: not a git repository")


def test_a_stacks_glob_that_matches_nothing_is_refused(make_registry: MakeRegistry, no_pulumi: Path) -> None:
    registry = make_registry([{"org_id": 1, "shard": 0}])
    result = railzway("fleet", "refresh", "--stacks", "dev-*", "--registry", str(registry), path_dir=no_pulumi)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --stacks 'dev-*' matches no stack of the scheme (prod-eu-west-00")


def test_assign_shard_places_new_tenant_files_in_the_least_loaded_shards(
    make_registry: MakeRegistry, no_pulumi: Path
) -> None:
    registry = make_registry([{"org_id": 1, "shard": 0}, {"org_id": 2, "shard": 2}, {"org_id": 10}, {"org_id": 11}])
    result = railzway("assign-shard", "--registry", str(registry), path_dir=no_pulumi)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"org 10: shard eu-west/1 ({registry}/orgs/10.yaml)",
        f"org 11: shard eu-west/0 ({registry}/orgs/11.yaml)",
    ]
    after = load_registry(registry)
    assert (after.tenants[10].shard, after.tenants[11].shard) == (1, 0)
    assert "shard: 1\n" in (registry / "orgs" / "10.yaml").read_text()


def test_assign_shard_refuses_a_tenant_that_already_has_a_shard(make_registry: MakeRegistry, no_pulumi: Path) -> None:
    registry = make_registry([{"org_id": 1, "shard": 2}])
    before = (registry / "orgs" / "1.yaml").read_text()
    result = railzway("assign-shard", "1", "--registry", str(registry), path_dir=no_pulumi)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: org 1 is already in shard eu-west/2 (its stack holds its state): "
        "use `railzway move 1 --to SHARD` to move it"
    )
    assert (registry / "orgs" / "1.yaml").read_text() == before


def test_assign_shard_check_fails_on_a_file_without_shard_and_writes_nothing(
    make_registry: MakeRegistry, no_pulumi: Path
) -> None:
    registry = make_registry([{"org_id": 1, "shard": 0}])
    path = write_tenant_file(registry, {"org_id": 5})
    result = railzway("assign-shard", "--check", "--registry", str(registry), path_dir=no_pulumi)
    assert result.returncode == 1
    assert f"{path}: error: shard: required field is missing: run `railzway assign-shard`" in result.stderr
    assert "shard" not in path.read_text()


def test_move_to_the_shard_it_is_in_is_refused_before_any_engine_call(
    make_registry: MakeRegistry, no_pulumi: Path
) -> None:
    registry = make_registry([{"org_id": 1, "shard": 1}])
    result = railzway("move", "1", "--to", "1", "--registry", str(registry), path_dir=no_pulumi)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: move refused: org 1 is already in shard eu-west/1: nothing to move"


def test_move_of_an_unknown_org_is_refused(make_registry: MakeRegistry, no_pulumi: Path) -> None:
    registry = make_registry([{"org_id": 1, "shard": 1}])
    result = railzway("move", "77", "--to", "0", "--registry", str(registry), path_dir=no_pulumi)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: move refused: org 77 is not in the registry"
