"""`fleet status` and `fleet stacks|up --changed-only` against the revisions stacks recorded in a real Cloud DB,
with the registry in a real git repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from fleet_fakes import PROJECT, write_registry, write_tenant_file

from railzway.clouddb import record_revision
from railzway.fleet.recorded import changed_since_recorded
from railzway.registry.at_revision import RevisionError
from railzway.registry.loader import load_registry
from tests.git_remote import git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Tenants 1 on eu-west/0, 2 on eu-west/1, 3 on us-east/0, in a first commit."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write_registry(
        root, [{"org_id": 1, "shard": 0}, {"org_id": 2, "shard": 1}, {"org_id": 3, "region": "us-east", "shard": 0}]
    )
    git(root, "add", "tenants")
    git(root, "commit", "-q", "-m", "base")
    return root


def commit(repo: Path, tenant: dict[str, object], message: str) -> str:
    write_tenant_file(repo / "tenants", tenant)
    git(repo, "add", "-A", "tenants")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def record(url: str, stack: str, revision: str, by: str = "workflow run 7") -> None:
    with psycopg.connect(url) as conn:
        record_revision(conn, stack, revision, by)


def fleet(repo: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "railzway", "fleet", *args, "--registry", "tenants"],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(PROJECT), "RAILZWAY_CLOUD_DB_URL": url},
        capture_output=True,
        text=True,
    )


def test_changed_only_runs_a_stack_whose_tenants_changed_since_its_recorded_revision(repo: Path, cloud_db: str) -> None:
    base = git(repo, "rev-parse", "HEAD")
    for stack in ("prod-eu-west-00", "prod-eu-west-01", "prod-eu-west-02", "prod-us-east-00"):
        record(cloud_db, stack, base)
    commit(repo, {"org_id": 2, "shard": 1, "version": "1.9.0"}, "org 2 to 1.9.0")
    commit(repo, {"org_id": 3, "region": "us-east", "shard": 0, "version": "1.9.0"}, "org 3 to 1.9.0")
    done = fleet(repo, cloud_db, "stacks", "--changed-only", "--format", "json")
    assert done.returncode == 0, done.stderr
    # Comparing with the previous commit would have missed org 2's stack: its deploy never ran.
    assert json.loads(done.stdout) == ["prod-eu-west-01", "prod-us-east-00"]


def test_a_commit_the_service_already_applied_changes_nothing(repo: Path, cloud_db: str) -> None:
    base = git(repo, "rev-parse", "HEAD")
    for stack in ("prod-eu-west-00", "prod-eu-west-02", "prod-us-east-00"):
        record(cloud_db, stack, base)
    head = commit(
        repo, {"org_id": 2, "shard": 1, "version": "1.9.0"}, "deploy org 2: version 1.8.2 -> 1.9.0 (request r)"
    )
    record(cloud_db, "prod-eu-west-01", head, "service request r")
    done = fleet(repo, cloud_db, "stacks", "--changed-only", "--format", "json")
    assert (done.returncode, json.loads(done.stdout)) == (0, []), done.stderr


def test_a_stack_that_never_recorded_a_revision_runs(repo: Path, cloud_db: str) -> None:
    done = fleet(repo, cloud_db, "stacks", "--changed-only", "--format", "json")
    assert json.loads(done.stdout) == ["prod-eu-west-00", "prod-eu-west-01", "prod-eu-west-02", "prod-us-east-00"]
    assert "prod-eu-west-00: no revision recorded" in done.stderr


def test_a_recorded_revision_this_checkout_does_not_hold_runs_the_stack(repo: Path) -> None:
    head = load_registry(repo / "tenants")

    def missing(revision: str) -> None:
        raise RevisionError(f"unknown git revision {revision!r}")

    found = changed_since_recorded(head, "prod", {"prod-eu-west-00": "f" * 40}, missing, ["prod-eu-west-00"])
    assert [s.name for s in found.selection.stacks] == ["prod-eu-west-00"]
    assert found.reasons == {"prod-eu-west-00": "recorded revision ffffffffffff is not in this checkout"}


def test_fleet_status_shows_each_stacks_revision_and_drift(repo: Path, cloud_db: str) -> None:
    base = git(repo, "rev-parse", "HEAD")
    record(cloud_db, "prod-eu-west-00", base)
    commit(repo, {"org_id": 1, "shard": 0, "version": "1.9.0"}, "org 1")
    commit(repo, {"org_id": 4, "shard": 0}, "org 4")
    head = commit(repo, {"org_id": 1, "shard": 0, "version": "1.9.1"}, "org 1 again")
    record(cloud_db, "prod-eu-west-01", head)
    done = fleet(repo, cloud_db, "status", "--format", "json")
    assert done.returncode == 0, done.stderr
    by_stack = {s["stack"]: s for s in json.loads(done.stdout)}
    assert by_stack["prod-eu-west-00"]["drift"] == "drifted: 3 commits behind, tenants 1, 4 changed"
    assert (by_stack["prod-eu-west-00"]["revision"], by_stack["prod-eu-west-00"]["head"]) == (base, head)
    assert by_stack["prod-eu-west-00"]["applied_by"] == "workflow run 7"
    assert by_stack["prod-eu-west-01"]["drift"] == "current"
    assert by_stack["prod-us-east-00"]["drift"] == "no revision recorded: never applied by a recorded up"


def test_fleet_status_prints_a_table_naming_the_drift(repo: Path, cloud_db: str) -> None:
    base = git(repo, "rev-parse", "HEAD")
    record(cloud_db, "prod-eu-west-01", base)
    commit(repo, {"org_id": 2, "shard": 1, "version": "1.9.0"}, "org 2")
    done = fleet(repo, cloud_db, "status")
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if "prod-eu-west-01" in line)
    assert base[:12] in line and "drifted: 1 commit behind, tenants 2 changed" in line
    assert done.stdout.rstrip().endswith("4 stacks, 4 not at HEAD")
