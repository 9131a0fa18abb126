"""What a new operator meets first: the installed `railzway` command, its help, `make`'s verbs and CI's tools."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from railzway.cli import command
from tests.conftest import PROJECT

# Type placeholders typer prints when a parameter has no metavar: `<path>`, `<list[int]>`, `<int range>`.
TYPE_PLACEHOLDER = re.compile(r"<[a-z][a-z0-9 \[\]|,]*>")


def run(
    args: list[str | Path], cwd: Path = PROJECT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def path_without(*tools: str) -> str:
    """PATH less every directory holding one of `tools`."""
    return os.pathsep.join(
        d for d in os.environ["PATH"].split(os.pathsep) if d and not any((Path(d) / tool).exists() for tool in tools)
    )


def leaf_commands() -> list[list[str]]:
    """Every command line an operator can run (`fleet up`, `demo down`, `validate`...)."""
    found: list[list[str]] = []

    def walk(cmd: object, prefix: list[str]) -> None:
        subcommands = getattr(cmd, "commands", None)
        if not subcommands:
            found.append(prefix)
            return
        for name, sub in subcommands.items():
            walk(sub, [*prefix, name])

    walk(command(), [])
    return found


def make_targets() -> dict[str, str]:
    result = run(["make", "help"])
    assert result.returncode == 0, result.stderr
    targets = {}
    for line in result.stdout.splitlines():
        name, _, text = line.strip().partition(" ")
        targets[name] = text.strip()
    return targets


# --- the installed command -----------------------------------------------------------------------------


def test_pyproject_installs_a_railzway_console_script() -> None:
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"railzway": "railzway.cli:main"}
    declared = {re.split(r"[<>=\[ ]", d)[0] for d in project["dependencies"]}
    assert {"typer", "rich", "psycopg", "pydantic", "pulumi", "fastapi", "procrastinate"} <= declared


def test_make_install_installs_the_project_into_its_virtualenv() -> None:
    recipe = run(["make", "-n", "install"]).stdout
    assert ".venv/bin/pip install -q --no-deps --no-build-isolation -e ." in recipe


def test_the_console_script_validates_the_registry(railzway_command: Path) -> None:
    result = run([railzway_command, "validate"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tenants: valid: 8 tenants")


def test_the_console_script_works_outside_the_project(railzway_command: Path, tmp_path: Path) -> None:
    result = run([railzway_command, "validate", PROJECT / "tenants"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "valid: 8 tenants" in result.stdout


def test_python_dash_m_railzway_still_works() -> None:
    result = run([sys.executable, "-m", "railzway", "validate"])
    assert result.returncode == 0, result.stderr


def test_no_command_exits_2_with_the_usage_on_stderr(railzway_command: Path) -> None:
    result = run([railzway_command])
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Usage: railzway [OPTIONS] COMMAND [ARGS]...")
    assert "Commands:" in result.stderr and "  validate " in result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == "error: missing command (one of the commands above)"


@pytest.mark.parametrize("group", ["fleet"])
def test_a_command_group_without_its_command_exits_2_with_its_usage(railzway_command: Path, group: str) -> None:
    result = run([railzway_command, group])
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"Usage: railzway {group} [OPTIONS] COMMAND [ARGS]...")


@pytest.mark.parametrize("words", leaf_commands(), ids=" ".join)
def test_help_reads_like_a_man_page(railzway_command: Path, words: list[str]) -> None:
    result = run([railzway_command, *words, "--help"])
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert not TYPE_PLACEHOLDER.findall(text), text
    usage = text.splitlines()[0]
    assert usage.startswith(f"Usage: railzway {' '.join(words)} [OPTIONS]")
    assert "{" not in usage and "[[" not in usage and "]...]" not in usage, usage


def test_help_shows_arguments_as_click_does(railzway_command: Path) -> None:
    assert run([railzway_command, "assign-shard", "--help"]).stdout.splitlines()[0].endswith("[OPTIONS] [ORG]...")
    assert run([railzway_command, "move", "--help"]).stdout.splitlines()[0].endswith("[OPTIONS] ORG")
    assert "  --registry DIR " in run([railzway_command, "move", "--help"]).stdout
    assert "  --format text|github " in run([railzway_command, "validate", "--help"]).stdout


@pytest.mark.parametrize("operation", ["preview", "refresh"])
def test_no_sync_is_not_offered_where_it_does_nothing(railzway_command: Path, operation: str) -> None:
    assert "--no-sync" not in run([railzway_command, "fleet", operation, "--help"]).stdout
    refused = run([railzway_command, "fleet", operation, "--no-sync"])
    assert refused.returncode == 2
    assert "No such option: --no-sync" in refused.stderr


def test_no_sync_is_an_option_of_fleet_up(railzway_command: Path) -> None:
    assert "  --no-sync " in run([railzway_command, "fleet", "up", "--help"]).stdout


# --- make ----------------------------------------------------------------------------------------------


def test_make_help_lists_every_operator_verb() -> None:
    targets = make_targets()
    for verb in ("migrate", "sync", "rekey", "assign-shard", "move", "serve", "fleet", "validate", "audit", "report"):
        assert verb in targets, f"`make help` does not list {verb}"
    # Every command of the CLI has its make verb (a new command needs a target and its `## help`).
    for name in command().commands:  # type: ignore[attr-defined]
        assert name in targets, f"`make help` does not list the `railzway {name}` command"


@pytest.mark.parametrize("target", ["preview", "up"])
def test_make_without_the_pulumi_cli_says_so(target: str) -> None:
    result = run(["make", target, f"PY={sys.executable}"], env={"PATH": path_without("pulumi")})
    assert result.returncode != 0
    assert f"error: the pulumi CLI is not on PATH, so `make {target}` cannot run" in result.stderr
    assert "No such file or directory" not in result.stderr and "Error 127" not in result.stderr


@pytest.mark.parametrize("target", ["audit", "report"])
def test_make_without_admin_url_says_it_is_not_set(target: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ADMIN_URL"}
    result = subprocess.run(
        ["make", target, f"PY={sys.executable}"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert f"error: ADMIN_URL is not set: make {target} ADMIN_URL=postgresql://" in result.stderr
    assert "socket" not in result.stderr


def test_make_move_without_its_arguments_says_which(tmp_path: Path) -> None:
    result = run(["make", "move", f"PY={sys.executable}"])
    assert result.returncode != 0
    assert "error: ORG and TO are not set" in result.stderr


def test_make_lint_without_go_says_what_it_needs(tmp_path: Path) -> None:
    result = run(["make", "lint", f"ACTIONLINT={tmp_path / 'actionlint'}"], env={"PATH": path_without("go")})
    assert result.returncode != 0
    assert "error: go is not on PATH: make lint builds actionlint" in result.stderr
    assert "go: No such file or directory" not in result.stderr


def test_ci_run_without_go_fails_before_installing_anything(tmp_path: Path) -> None:
    # A copy in an empty tree: were the check missing, its `make install` would find no Makefile here.
    (tmp_path / ".ci").mkdir()
    shutil.copy(PROJECT / ".ci" / "run", tmp_path / ".ci" / "run")
    result = run(["bash", tmp_path / ".ci" / "run"], cwd=tmp_path, env={"PATH": path_without("go")})
    assert result.returncode == 2
    assert result.stderr.startswith("error: go is not on PATH: .ci/run needs the Go toolchain")
    assert result.stdout == ""


def test_readme_says_ci_needs_go_next_to_the_setup_commands() -> None:
    readme = (PROJECT / "README.md").read_text()
    setup = " ".join(readme[readme.index("## Set up and test") : readme.index("## Layout")].split())
    assert "make install" in setup and "make test" in setup
    assert "Go toolchain" in setup and "Go module proxy" in setup


def quick_start_block() -> str:
    readme = (PROJECT / "README.md").read_text()
    section = readme[readme.index("### Quick start") :]
    return section[section.index("```sh\n") + len("```sh\n") : section.index("```\n", section.index("```sh\n") + 6)]


def test_the_readme_quick_start_runs_verbatim_in_a_fresh_shell(railzway_command: Path, tmp_path: Path) -> None:
    # A checkout as `make install` leaves it: the registry, the Makefile and .venv holding the command.
    for name in ("tenants", "Makefile"):
        (tmp_path / name).symlink_to(PROJECT / name)
    (tmp_path / ".venv").symlink_to(railzway_command.parent.parent)
    fresh = {"HOME": str(tmp_path), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-c", quick_start_block()],
        cwd=tmp_path,
        env=fresh,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("tenants: valid: 8 tenants") == 2
    assert "Usage: railzway [OPTIONS] COMMAND [ARGS]..." in result.stdout
    assert "  assign-shard " in result.stdout
