"""`--changed-only`: the registry read at two real git revisions of a temporary repository, and selection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fleet_fakes import PROJECT, write_registry, write_tenant_file

from railzway.fleet import RevisionError, SelectionError, registry_at_revision, select_stacks
from railzway.registry.loader import RegistryError, load_registry
from tests.git_remote import git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose first commit holds a registry with tenants on eu-west/0, eu-west/1, us-east/0."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write_registry(
        root,
        [
            {"org_id": 1, "shard": 0},
            {"org_id": 2, "shard": 1},
            {"org_id": 3, "region": "us-east", "shard": 0},
        ],
    )
    git(root, "add", "tenants")
    git(root, "commit", "-q", "-m", "base")
    return root


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A", "tenants")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def test_a_revision_reads_back_as_it_was_committed(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    write_tenant_file(repo / "tenants", {"org_id": 4, "shard": 2})
    commit(repo, "add org 4")
    old = registry_at_revision(repo / "tenants", base)
    assert old is not None and sorted(old.tenants) == [1, 2, 3]
    assert sorted(load_registry(repo / "tenants").tenants) == [1, 2, 3, 4]


def test_changed_only_runs_the_stacks_whose_tenants_changed_between_revisions(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    write_tenant_file(repo / "tenants", {"org_id": 2, "shard": 1, "version": "1.9.0"})
    write_tenant_file(repo / "tenants", {"org_id": 5, "region": "us-east", "shard": 0})
    head = commit(repo, "upgrade org 2, add org 5")
    selection = select_stacks(
        registry_at_revision(repo / "tenants", head),  # type: ignore[arg-type]
        "prod",
        base=registry_at_revision(repo / "tenants", base),
        changed_only=True,
    )
    assert [s.name for s in selection.stacks] == ["prod-eu-west-01", "prod-us-east-00"]


def test_an_uncommitted_change_is_not_part_of_the_head_revision(repo: Path) -> None:
    write_tenant_file(repo / "tenants", {"org_id": 1, "shard": 0, "version": "2.0.0"})
    head = registry_at_revision(repo / "tenants", "HEAD")
    base = registry_at_revision(repo / "tenants", "HEAD")
    assert head is not None
    assert select_stacks(head, "prod", base=base, changed_only=True).stacks == ()


def test_a_revision_before_the_registry_existed_reads_as_none(repo: Path) -> None:
    (repo / "README").write_text("x\n")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "readme")
    git(repo, "checkout", "-q", "--orphan", "other")
    git(repo, "rm", "-r", "-q", "--cached", "tenants")
    git(repo, "commit", "-q", "-m", "no registry")
    assert registry_at_revision(repo / "tenants", "other") is None


def test_an_unknown_revision_is_named(repo: Path) -> None:
    with pytest.raises(RevisionError, match="unknown git revision 'no-such-branch'"):
        registry_at_revision(repo / "tenants", "no-such-branch")


def test_an_invalid_registry_at_a_revision_names_the_revision_and_file(repo: Path) -> None:
    (repo / "tenants" / "orgs" / "1.yaml").write_text("org_id: 1\ntier: platinum\nversion: '1.8.2'\nregion: eu-west\n")
    bad = commit(repo, "bad tier")
    with pytest.raises(RegistryError) as caught:
        registry_at_revision(repo / "tenants", bad)
    assert caught.value.problems[0].file == f"{bad}:tenants/orgs/1.yaml"
    assert "unknown tier 'platinum'" in caught.value.problems[0].message


def test_a_stack_whose_shard_was_removed_is_reported_retired_not_run(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    (repo / "tenants" / "orgs" / "2.yaml").unlink()
    regions = (repo / "tenants" / "regions.yaml").read_text().replace("shards: 3", "shards: 1")
    (repo / "tenants" / "regions.yaml").write_text(regions)
    head = commit(repo, "retire eu-west/1 and eu-west/2")
    selection = select_stacks(
        registry_at_revision(repo / "tenants", head),  # type: ignore[arg-type]
        "prod",
        base=registry_at_revision(repo / "tenants", base),
        changed_only=True,
    )
    assert selection.stacks == ()
    assert [s.name for s in selection.retired] == ["prod-eu-west-01"]


def test_globs_narrow_the_stacks(repo: Path) -> None:
    registry = load_registry(repo / "tenants")
    chosen = select_stacks(registry, "prod", ["prod-eu-*-00", "*-us-east-*"]).stacks
    assert [s.name for s in chosen] == ["prod-eu-west-00", "prod-us-east-00"]


def test_a_glob_matching_no_stack_is_refused_listing_the_stacks(repo: Path) -> None:
    with pytest.raises(SelectionError, match=r"--stacks 'prod-ap-\*' matches no stack of the scheme \(prod-eu-west-00"):
        select_stacks(load_registry(repo / "tenants"), "prod", ["prod-ap-*"])


def test_fleet_stacks_prints_the_changed_stacks_as_a_json_matrix_for_ci(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    write_tenant_file(repo / "tenants", {"org_id": 3, "region": "us-east", "shard": 0, "version": "1.9.0"})
    head = commit(repo, "upgrade org 3")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "railzway",
            "fleet",
            "stacks",
            "--registry",
            "tenants",
            "--changed-only",
            "--base",
            base,
            "--head",
            head,
            "--format",
            "json",
        ],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["prod-us-east-00"]
