"""The service's clone of the registry branch, against a real bare repository and a racing second clone."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from railzway.registry.git import (
    Change,
    Edit,
    GitError,
    Identity,
    PushRejected,
    RegistryClone,
    drift,
    has_password,
    scrub,
)
from tests.git_remote import RegistryRemote

IDENTITY = Identity("Railzway service", "service@example.com")


@pytest.fixture
def remote(tmp_path: Path, registry_dir: Path) -> RegistryRemote:
    return RegistryRemote(tmp_path, registry_dir)


@pytest.fixture
def clone(tmp_path: Path, remote: RegistryRemote) -> RegistryClone:
    repo = RegistryClone(tmp_path / "service" / "registry", remote.url, "main", IDENTITY)
    repo.ensure()
    return repo


def _version_edit(org: int, version: str, message: str) -> Change:
    def change(work_tree: Path) -> Edit:
        path = work_tree / "tenants" / "orgs" / f"{org}.yaml"
        text = path.read_text()
        lines = [f'version: "{version}"' if line.startswith("version:") else line for line in text.splitlines()]
        path.write_text("\n".join(lines) + "\n")
        return Edit([f"tenants/orgs/{org}.yaml"], message)

    return change


def test_the_first_start_clones_the_branch_and_checks_out_its_head(
    clone: RegistryClone, remote: RegistryRemote
) -> None:
    assert clone.head() == remote.head()
    assert (clone.registry_dir / "orgs" / "1003.yaml").is_file()


def test_a_published_change_is_one_commit_on_the_remote_with_its_message(
    clone: RegistryClone, remote: RegistryRemote
) -> None:
    published = clone.publish(_version_edit(1003, "1.9.0", "deploy org 1003: version 1.8.2 -> 1.9.0 (request r1)"))
    assert published.commit == remote.head()
    assert remote.log(2) == ["deploy org 1003: version 1.8.2 -> 1.9.0 (request r1)", "seed the registry"]
    assert 'version: "1.9.0"' in remote.show("tenants/orgs/1003.yaml")


def test_a_push_refused_because_a_pull_request_merged_first_is_applied_again_on_the_new_head(
    clone: RegistryClone, remote: RegistryRemote
) -> None:
    calls: list[Path] = []

    def change(work_tree: Path) -> Edit:
        if not calls:
            # The pull request lands after our fetch and before our push.
            remote.pr_commit("PR: 1004 to 1.9.1", {"tenants/orgs/1004.yaml": _with_version(remote, 1004, "1.9.1")})
        calls.append(work_tree)
        return _version_edit(1003, "1.9.0", "deploy org 1003 (request r2)")(work_tree)

    published = clone.publish(change)
    assert len(calls) == 2
    assert remote.log(3) == ["deploy org 1003 (request r2)", "PR: 1004 to 1.9.1", "seed the registry"]
    assert published.head == remote.head()
    assert 'version: "1.9.1"' in remote.show("tenants/orgs/1004.yaml")


def test_a_change_that_alters_nothing_makes_no_commit(clone: RegistryClone, remote: RegistryRemote) -> None:
    before = remote.head()
    published = clone.publish(_version_edit(1003, "1.8.2", "deploy org 1003 (request r3)"))
    assert (published.commit, published.head, remote.head()) == (None, before, before)


def test_the_push_gives_up_after_its_attempts_when_others_keep_pushing_first(
    clone: RegistryClone, remote: RegistryRemote
) -> None:
    counter = iter(range(100))

    def change(work_tree: Path) -> Edit:
        n = next(counter)
        remote.pr_commit(f"PR {n}", {"tenants/orgs/1004.yaml": _with_version(remote, 1004, f"1.9.{n}")})
        return _version_edit(1003, "1.9.0", "deploy org 1003 (request r4)")(work_tree)

    with pytest.raises(PushRejected, match="refused 3 times"):
        clone.publish(change, attempts=3)
    assert "deploy org 1003 (request r4)" not in remote.log()


def test_a_failing_change_pushes_nothing(clone: RegistryClone, remote: RegistryRemote) -> None:
    before = remote.head()

    def change(work_tree: Path) -> Edit:
        raise ValueError("rejected by the model")

    with pytest.raises(ValueError, match="rejected by the model"):
        clone.publish(change)
    assert remote.head() == before


def test_refresh_drops_local_leftovers_and_takes_the_remote_head(clone: RegistryClone, remote: RegistryRemote) -> None:
    (clone.registry_dir / "orgs" / "1003.yaml").write_text("garbage\n")
    (clone.registry_dir / "orgs" / "9999.yaml").write_text("stray\n")
    head = remote.pr_commit("PR: 1004", {"tenants/orgs/1004.yaml": _with_version(remote, 1004, "2.0.0")})
    assert clone.refresh() == head
    assert "garbage" not in (clone.registry_dir / "orgs" / "1003.yaml").read_text()
    assert not (clone.registry_dir / "orgs" / "9999.yaml").exists()


def test_drift_counts_commits_and_names_the_changed_tenants(clone: RegistryClone, remote: RegistryRemote) -> None:
    base = remote.head()
    remote.pr_commit("PR: 1003", {"tenants/orgs/1003.yaml": _with_version(remote, 1003, "1.9.0")})
    remote.pr_commit("PR: 1004", {"tenants/orgs/1004.yaml": _with_version(remote, 1004, "1.9.0")})
    head = remote.pr_commit("PR: docs", {"README.txt": "not the registry\n"})
    found = drift(clone.git, base, clone.refresh())
    assert found.text() == "drifted: 3 commits behind, tenants 1003, 1004 changed"
    assert drift(clone.git, head, head).text() == "current"


def test_a_catalogue_change_is_called_out_in_the_drift(clone: RegistryClone, remote: RegistryRemote) -> None:
    base = remote.head()
    tiers = remote.show("tenants/tiers.yaml") + "\n# reviewed\n"
    remote.pr_commit("PR: tiers", {"tenants/tiers.yaml": tiers})
    found = drift(clone.git, base, clone.refresh())
    assert (found.behind, found.orgs, found.catalogues) == (1, (), True)


def test_a_snapshot_holds_the_registry_exactly_at_its_revision(
    clone: RegistryClone, remote: RegistryRemote, tmp_path: Path
) -> None:
    old = remote.head()
    remote.pr_commit("PR: 1003", {"tenants/orgs/1003.yaml": _with_version(remote, 1003, "3.0.0")})
    clone.refresh()
    path = clone.extract(old, tmp_path / "snap")
    assert 'version: "1.8.2"' in (path / "orgs" / "1003.yaml").read_text()


def test_a_remote_url_with_a_password_is_recognised_and_scrubbed_from_messages() -> None:
    assert has_password("https://bot:s3cret@git.example.com/registry.git")
    assert not has_password("https://git.example.com/registry.git")
    assert not has_password("git@github.com:railzway/registry.git")
    assert scrub("fatal: unable to access 'https://bot:s3cret@git.example.com/r.git/'") == (
        "fatal: unable to access 'https://git.example.com/r.git/'"
    )


def test_an_unreachable_remote_fails_with_git_reason_and_no_prompt(tmp_path: Path) -> None:
    repo = RegistryClone(tmp_path / "clone", str(tmp_path / "missing.git"), "main", IDENTITY)
    with pytest.raises(GitError, match="git clone"):
        repo.ensure()


def _with_version(remote: RegistryRemote, org: int, version: str) -> str:
    text = remote.show(f"tenants/orgs/{org}.yaml")
    return (
        "\n".join(f'version: "{version}"' if line.startswith("version:") else line for line in text.splitlines()) + "\n"
    )


def test_two_processes_worth_of_clones_on_one_work_tree_publish_without_racing(
    tmp_path: Path, remote: RegistryRemote, clone: RegistryClone
) -> None:
    other = RegistryClone(clone.work_tree, remote.url, "main", IDENTITY)  # its own lock object, as another process
    errors: list[BaseException] = []

    def deploy(repo: RegistryClone, org: int) -> None:
        try:
            for n in range(4):
                repo.publish(_version_edit(org, f"2.{n}.0", f"deploy org {org}: 2.{n}.0"))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=deploy, args=(clone, 1001)), threading.Thread(target=deploy, args=(other, 1002))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    subjects = remote.log(9)
    assert sorted(subjects[:8]) == sorted(
        [f"deploy org 1001: 2.{n}.0" for n in range(4)] + [f"deploy org 1002: 2.{n}.0" for n in range(4)]
    )
