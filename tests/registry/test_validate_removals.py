"""`railzway validate --base REV`: a tenant may leave the registry only once it was terminated at REV.

Real git repositories on disk, and the real command in a subprocess, as the pull request check runs it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from railzway.registry.loader import load_registry
from railzway.registry.tenant_files import write_tenant
from tests.conftest import PROJECT, SHIPPED_REGISTRY
from tests.git_remote import git

RUNNING, STOPPED, TERMINATED = 1001, 1004, 1005


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose one commit holds the shipped registry."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    shutil.copytree(SHIPPED_REGISTRY, root / "tenants")
    git(root, "add", "tenants")
    git(root, "commit", "-q", "-m", "base")
    return root


def validate(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "railzway", "validate", str(repo / "tenants"), *args],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=60,
    )


def remove(repo: Path, org_id: int) -> None:
    (repo / "tenants" / "orgs" / f"{org_id}.yaml").unlink()


@pytest.mark.parametrize(("org_id", "status"), [(RUNNING, "running"), (STOPPED, "stopped")])
def test_removing_a_tenant_that_is_not_terminated_is_refused_naming_its_file(
    repo: Path, org_id: int, status: str
) -> None:
    remove(repo, org_id)
    result = validate(repo, "--base", "main")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        f"{repo / 'tenants' / 'orgs' / f'{org_id}.yaml'}: error: tenant {org_id} is removed from the registry "
        f"but is {status} at main" in result.stderr
    )
    assert "set `status: terminated`" in result.stderr


def test_removing_a_tenant_terminated_at_the_base_is_accepted(repo: Path) -> None:
    remove(repo, TERMINATED)
    result = validate(repo, "--base", "main")
    assert result.returncode == 0, result.stderr
    assert "7 tenants" in result.stdout


def test_terminating_and_removing_in_one_change_is_refused(repo: Path) -> None:
    registry = load_registry(repo / "tenants")
    write_tenant(repo / "tenants", registry.tenants[RUNNING].model_copy(update={"status": "terminated"}))
    git(repo, "commit", "-q", "-am", "terminate 1001")
    remove(repo, RUNNING)
    result = validate(repo, "--base", "main~1")
    assert result.returncode == 1
    assert f"tenant {RUNNING} is removed from the registry but is running at main~1" in result.stderr


def test_the_terminated_tenant_may_leave_in_the_next_change(repo: Path) -> None:
    registry = load_registry(repo / "tenants")
    write_tenant(repo / "tenants", registry.tenants[RUNNING].model_copy(update={"status": "terminated"}))
    git(repo, "commit", "-q", "-am", "terminate 1001")
    remove(repo, RUNNING)
    assert validate(repo, "--base", "main").returncode == 0


def test_github_format_annotates_the_removed_file(repo: Path) -> None:
    remove(repo, RUNNING)
    result = validate(repo, "--base", "main", "--format", "github")
    assert result.returncode == 1
    assert f"::error file={repo / 'tenants' / 'orgs' / '1001.yaml'}::tenant 1001 is removed" in result.stdout


def test_an_unknown_base_revision_is_a_clear_error(repo: Path) -> None:
    result = validate(repo, "--base", "no-such-branch")
    # Exit 2, as every command that cannot run: the check itself never happened.
    assert result.returncode == 2
    assert "--base no-such-branch: unknown git revision 'no-such-branch'" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_base_a_removal_is_not_judged(repo: Path) -> None:
    remove(repo, RUNNING)
    assert validate(repo).returncode == 0
