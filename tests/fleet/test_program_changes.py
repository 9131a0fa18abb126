"""`--changed-only` when the program changes: a merge that changes the component, the rules, the pins or a
stack's settings reaches the stacks it changes, although no tenant changed (real git repositories)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet_fakes import PROJECT, write_registry, write_tenant_file

from railzway.fleet import registry_at_revision, select_stacks
from railzway.fleet.program_files import program_changed, program_files, stack_settings
from railzway.fleet.recorded import changed_since_recorded
from railzway.registry.at_revision import changed_paths
from railzway.registry.model import Registry
from tests.git_remote import git

ALL_STACKS = ["prod-eu-west-00", "prod-eu-west-01", "prod-eu-west-02", "prod-us-east-00"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A project in git: a program that imports a component, which imports a railzway module; a registry."""
    root = tmp_path / "project"
    for path, text in {
        "__main__.py": "import components\nfrom components.tenant import Tenant\n",
        "components/__init__.py": "",
        "components/tenant.py": "from railzway.tenant import spec\n\nclass Tenant: ...\n",
        "railzway/__init__.py": "",
        "railzway/tenant/__init__.py": "",
        "railzway/tenant/spec.py": "LIMIT = 10\n",
        "railzway/cli/__init__.py": "",
        "railzway/cli/fleet_command.py": "HELP = 'fleet'\n",
        "Pulumi.yaml": "name: railzway\n",
        "Pulumi.prod-eu-west-01.yaml": "config: {}\n",
        "requirements.txt": "pulumi==3.272.0\n",
        "README.md": "# project\n",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    git(root, "init", "-q", "-b", "main")
    write_registry(
        root,
        [{"org_id": 1, "shard": 0}, {"org_id": 2, "shard": 1}, {"org_id": 3, "region": "us-east", "shard": 0}],
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


def change(repo: Path, path: str, text: str) -> str:
    (repo / path).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"change {path}")
    return git(repo, "rev-parse", "HEAD")


def selected(repo: Path, base: str) -> list[str]:
    """`fleet stacks --changed-only --base BASE`: the stacks whose tenants or program changed since BASE."""
    program = program_files(repo)
    changed = changed_paths(repo / "tenants", base, "HEAD")
    head = registry_at_revision(repo / "tenants", "HEAD")
    assert isinstance(head, Registry)
    selection = select_stacks(
        head,
        "prod",
        base=registry_at_revision(repo / "tenants", base),
        changed_only=True,
        program_changed=lambda stack: program_changed(changed, program, stack_settings(repo, stack)),
    )
    return [s.name for s in selection.stacks]


def relative(project: Path, files: frozenset[Path]) -> list[str]:
    return sorted(str(path.relative_to(project.resolve())) for path in files)


def test_the_program_is_what_the_entry_points_import_inside_the_project(repo: Path) -> None:
    assert relative(repo, program_files(repo)) == [
        "Pulumi.yaml",
        "__main__.py",
        "components/__init__.py",
        "components/tenant.py",
        "railzway/__init__.py",
        "railzway/tenant/__init__.py",
        "railzway/tenant/spec.py",
        "requirements.txt",
    ]


def test_the_shipped_program_holds_the_component_the_spec_and_the_rules_but_no_command() -> None:
    files = relative(PROJECT, program_files(PROJECT))
    for path in (
        "components/tenant_instance.py",
        "railzway/tenant/spec.py",
        "railzway/guardrails/stack_policies.py",
        "policy/__main__.py",
        "policy/requirements.txt",
    ):
        assert path in files
    assert [
        path for path in files if path.startswith(("railzway/cli/", "railzway/service/", "tests/", "tenants/"))
    ] == []


def test_changed_paths_are_the_files_that_differ_between_two_commits(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "mv", "README.md", "NOTES.md")
    head = change(repo, "components/tenant.py", "from railzway.tenant import spec\n\nclass Tenant: pass\n")
    assert relative(repo, changed_paths(repo / "tenants", base, head)) == [
        "NOTES.md",
        "README.md",
        "components/tenant.py",
    ]


def test_a_change_to_the_component_runs_every_stack(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    change(repo, "railzway/tenant/spec.py", "LIMIT = 20\n")
    assert selected(repo, base) == ALL_STACKS


def test_a_change_to_the_pinned_providers_runs_every_stack(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    change(repo, "requirements.txt", "pulumi==3.273.0\n")
    assert selected(repo, base) == ALL_STACKS


def test_a_change_to_one_stacks_settings_runs_that_stack_alone(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    change(repo, "Pulumi.prod-eu-west-01.yaml", "config: {railzway:shards: ['1']}\n")
    assert selected(repo, base) == ["prod-eu-west-01"]


def test_a_change_outside_the_program_runs_no_stack(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    change(repo, "README.md", "# project, documented\n")
    change(repo, "railzway/cli/fleet_command.py", "HELP = 'the fleet'\n")
    assert selected(repo, base) == []


def test_a_tenant_change_still_runs_its_stack_alone(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    write_tenant_file(repo / "tenants", {"org_id": 3, "region": "us-east", "shard": 0, "version": "1.9.0"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "upgrade org 3")
    assert selected(repo, base) == ["prod-us-east-00"]


def test_a_stack_whose_recorded_revision_predates_a_program_change_runs_and_says_why(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    head = change(repo, "components/tenant.py", "from railzway.tenant import spec\n\nclass Tenant: pass\n")
    program = program_files(repo)
    registry = registry_at_revision(repo / "tenants", head)
    assert isinstance(registry, Registry)
    found = changed_since_recorded(
        registry,
        "prod",
        {"prod-eu-west-00": base, "prod-eu-west-01": head},
        lambda revision: registry_at_revision(repo / "tenants", revision),
        ["prod-eu-west-0*"],
        lambda revision, stack: program_changed(
            changed_paths(repo / "tenants", revision, head), program, stack_settings(repo, stack)
        ),
    )
    assert [s.name for s in found.selection.stacks] == ["prod-eu-west-00", "prod-eu-west-02"]
    assert found.reasons == {
        "prod-eu-west-00": f"the program or the stack's settings changed since {base[:12]}",
        "prod-eu-west-02": "no revision recorded",
    }
