"""`railzway validate` lists every problem of every file in one run, each saying what is wrong and where.

Run through `python -m railzway` in a subprocess, as the pull request's check runs it.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT, SHIPPED_REGISTRY

GROWTH = 'org_id: 3001\ntier: growth\nversion: "1.8.2"\nregion: eu-west\nshard: 0\n'


def railzway(*args: str, cwd: Path = PROJECT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "railzway", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT)},
    )


def errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stderr
    return [line.split("/tenants/", 1)[-1] for line in result.stderr.splitlines()]


def write_org(registry_dir: Path, text: str, org: int = 3001) -> Path:
    path = registry_dir / "orgs" / f"{org}.yaml"
    path.write_text(text)
    return path


def test_an_unknown_field_of_a_region_lists_the_fields_a_region_has(registry_dir: Path) -> None:
    text = (registry_dir / "regions.yaml").read_text().replace("    shards: 2\n", "    shards: 2\n    colour: red\n")
    (registry_dir / "regions.yaml").write_text(text)
    result = railzway("validate", str(registry_dir))
    assert result.returncode == 1
    assert "regions.yaml:11: error: regions.eu-west.colour: unknown field (allowed: shards, description)" in errors(
        result
    )


def test_an_unknown_field_does_not_hide_a_misspelled_default_region(registry_dir: Path) -> None:
    text = (registry_dir / "regions.yaml").read_text().replace("default: eu-west", "default: eu-wst\ncolour: red")
    (registry_dir / "regions.yaml").write_text(text)
    assert errors(railzway("validate", str(registry_dir)))[:2] == [
        "regions.yaml:3: error: default: default region 'eu-wst' is not one of the regions (eu-west, us-east)",
        "regions.yaml:4: error: colour: unknown field (allowed: regions, default, max_tenants_per_shard)",
    ]


def test_a_bad_downgrade_date_does_not_hide_an_unknown_downgrade_tier(registry_dir: Path) -> None:
    write_org(registry_dir, GROWTH + "downgrade:\n  tier: free\n  at: next month\n")
    assert errors(railzway("validate", str(registry_dir)))[:2] == [
        "orgs/3001.yaml:7: error: downgrade.tier: unknown tier 'free' (known: growth, starter)",
        "orgs/3001.yaml:8: error: downgrade.at: input should be a valid date or datetime, invalid character in year",
    ]


def test_a_downgrade_to_a_higher_tier_is_refused_naming_the_field(registry_dir: Path) -> None:
    write_org(registry_dir, GROWTH.replace("growth", "starter") + "downgrade:\n  tier: growth\n  at: 2099-01-01\n")
    assert errors(railzway("validate", str(registry_dir)))[0] == (
        "orgs/3001.yaml:6: error: downgrade: tier 'growth' is not lower than the tenant's tier 'starter': "
        "cpu 1000 > 250, memory_mb 1024 > 256, connection_limit 40 > 10, storage_quota_mb 20480 > 1024"
    )


def test_a_downgrade_to_the_same_tier_is_refused(registry_dir: Path) -> None:
    write_org(registry_dir, GROWTH + "downgrade:\n  tier: growth\n  at: 2099-01-01\n")
    assert errors(railzway("validate", str(registry_dir)))[0] == (
        "orgs/3001.yaml:6: error: downgrade: tier 'growth' is already the tenant's tier: a downgrade names a lower one"
    )


def test_a_past_downgrade_is_a_warning_without_a_base_revision(registry_dir: Path) -> None:
    write_org(registry_dir, GROWTH + "downgrade:\n  tier: starter\n  at: 2020-01-31\n")
    result = railzway("validate", str(registry_dir))
    assert result.returncode == 0, result.stderr
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert errors(result) == [
        f"orgs/3001.yaml:8: warning: downgrade.at: 2020-01-31 is in the past (today is {today}, UTC): the service "
        "applies a due downgrade within the hour; if this one is new, date it today or later "
        "(`validate --base REV` refuses new ones)"
    ]


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo, check=True, capture_output=True
    )


def test_with_a_base_revision_only_a_newly_written_past_downgrade_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(SHIPPED_REGISTRY, repo / "tenants")
    merged = GROWTH + "downgrade:\n  tier: starter\n  at: 2020-01-31\n"
    write_org(repo / "tenants", merged)  # merged long ago: its date passed while it waited to be applied
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    write_org(repo / "tenants", merged.replace("3001", "3002").replace("2020-01-31", "2020-02-29"), org=3002)

    result = railzway("validate", "tenants", "--base", "main", cwd=repo)
    assert result.returncode == 1
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert errors(result) == [
        f"tenants/orgs/3002.yaml:8: error: downgrade.at: 2020-02-29 is in the past (today is {today}, UTC): "
        "date a new downgrade today or later",
        "error: tenants: 1 problem found",
    ]


def test_a_file_that_is_not_a_directory_is_not_called_missing(tmp_path: Path) -> None:
    result = railzway("validate", "README.md")
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        "README.md: error: not a directory: a registry is a directory holding tiers.yaml, regions.yaml and orgs/"
    )


def test_audit_of_a_missing_registry_says_error_once(tmp_path: Path) -> None:
    result = railzway("audit", "--admin-url", "postgresql://admin@127.0.0.1:1/postgres", "--registry", "/nonexistent")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: invalid registry /nonexistent (`railzway validate` lists every problem): /nonexistent: "
        "no such registry directory: a registry is a directory holding tiers.yaml, regions.yaml and orgs/"
    )


def test_an_empty_registry_says_it_has_no_tenants_yet(registry_dir: Path) -> None:
    for path in (registry_dir / "orgs").iterdir():
        path.unlink()
    result = railzway("validate", str(registry_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{registry_dir}: valid: no tenants yet in 2 regions, 3 shards, 2 tiers\n"


def test_a_tenant_file_without_shard_gets_one_answer_from_validate_and_assign_shard_check(
    registry_dir: Path,
) -> None:
    path = write_org(registry_dir, GROWTH.replace("shard: 0\n", ""))
    line = (
        f"{path}: error: shard: required field is missing: run `railzway assign-shard` to record the least-loaded shard"
    )
    validated = railzway("validate", str(registry_dir))
    checked = railzway("assign-shard", "--check", "--registry", str(registry_dir))
    assert (validated.returncode, checked.returncode) == (1, 1)
    assert validated.stderr.splitlines()[0] == line
    assert checked.stderr.splitlines()[0] == line
    assert "shard" not in path.read_text()
