"""The policy pack in its own room: a thin entry, served from its own virtualenv with the project installed.

The engine runs the pack as `policy/.venv/bin/python -u -m pulumi.policy <engine> .` in `policy/` (the
`pulumi-analyzer-policy-python` shim), so nothing puts the project root on the import path: the rules must
come from the project installed in that virtualenv. These tests check the real one, which `make install`
builds before CI runs them ($RAILZWAY_TEST_POLICY_VENV checks another, e.g. a throwaway copy).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import sysconfig
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2_grpc

from railzway.guardrails.pack import PACK_NAME, POLICIES
from tests.conftest import PROJECT

PACK_DIR = PROJECT / "policy"
ENTRY = PACK_DIR / "__main__.py"
MISSING_PROJECT = (
    "error: the policy pack's virtualenv (policy/.venv) does not have the railzway project installed:"
    " run `make install` at the project root (or `cd policy && .venv/bin/pip install -r requirements.txt`)"
)

# Run inside the pack's virtualenv: what importing the rules resolves to and loads there.
PROBE = """
import importlib.metadata, json, sys
import railzway.guardrails.pack as pack
print(json.dumps({
    "pack_file": pack.__file__,
    "railzway_files": sorted(m.__file__ for n, m in list(sys.modules.items())
                             if n.split(".")[0] == "railzway" and getattr(m, "__file__", None)),
    "distributions": importlib.metadata.packages_distributions(),
    "versions": {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()},
}))
"""


@dataclass(frozen=True)
class Probed:
    """What importing the rules resolves to and loads in the pack's virtualenv."""

    pack_file: Path
    railzway_files: list[Path]
    distributions: dict[str, list[str]]  # top-level import name -> distributions providing it
    versions: dict[str, str]  # normalized distribution name -> installed version


def pack_venv() -> Path:
    return Path(os.environ.get("RAILZWAY_TEST_POLICY_VENV") or PACK_DIR / ".venv")


def clean_env() -> dict[str, str]:
    """This environment without an import path of its own: the pack's interpreter finds only what it holds."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def pins(requirements: Path) -> dict[str, str]:
    """`name==version` lines of a requirements file, by normalized name (extras dropped)."""
    found = {}
    for line in requirements.read_text().splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep:
            found[normalized(name.split("[")[0])] = version.strip()
    return found


def third_party_imports(source: Path) -> set[str]:
    """The top-level names a module imports that are neither the standard library nor the project."""
    names = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__", "railzway"}


@pytest.fixture(scope="module")
def venv_python() -> Path:
    python = pack_venv() / "bin" / "python"
    assert python.exists(), f"{pack_venv()} is not a virtualenv: run `make install`"
    return python


@pytest.fixture(scope="module")
def probe(venv_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Probed:
    # Run from an empty directory: the working directory is on `-c`'s import path.
    result = subprocess.run(
        [venv_python, "-c", PROBE],
        cwd=tmp_path_factory.mktemp("elsewhere"),
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    probed = json.loads(result.stdout)
    return Probed(
        pack_file=Path(probed["pack_file"]),
        railzway_files=[Path(f) for f in probed["railzway_files"]],
        distributions=probed["distributions"],
        versions={normalized(name): version for name, version in probed["versions"].items()},
    )


# --- the entry ------------------------------------------------------------------------------------------


def test_the_pack_entry_does_not_edit_the_import_path() -> None:
    tree = ast.parse(ENTRY.read_text())
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert "sys" not in names and "path" not in attributes and "__file__" not in names


def test_the_pack_entry_imports_only_the_rules_and_the_policy_sdk() -> None:
    imported = set()
    for node in ast.walk(ast.parse(ENTRY.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert imported == {"pulumi_policy", "railzway.guardrails.pack"}


def test_without_the_project_the_pack_says_what_to_run_in_one_sentence(tmp_path: Path) -> None:
    # A virtualenv holding the policy SDK and the rules' dependencies but not the project (a plain path in a
    # .pth file: the .pth files of that directory, the editable install's among them, are not processed).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "sdk-only.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    # As the engine's shim starts it (the engine address is not dialled before the pack is loaded).
    result = subprocess.run(
        [venv / "bin" / "python", "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=PACK_DIR,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout, result.stderr) == (1, "", MISSING_PROJECT + "\n")


# --- how the virtualenv is made ------------------------------------------------------------------------


def test_the_pack_requirements_install_the_project_from_the_directory_pip_runs_in() -> None:
    # The pulumi CLI runs `pip install -r requirements.txt` in the pack's directory (its Python toolchain,
    # pip: the command's working directory is the pack's), and pip takes a local path from there.
    lines = [line.strip() for line in (PACK_DIR / "requirements.txt").read_text().splitlines()]
    assert "-e .." in lines


def test_make_install_makes_the_pack_virtualenv_as_the_pulumi_cli_does() -> None:
    recipe = subprocess.run(["make", "-n", "install"], cwd=PROJECT, capture_output=True, text=True, check=True).stdout
    assert "python3 -m venv policy/.venv && cd policy && .venv/bin/pip install -q -r requirements.txt" in recipe


def test_the_pack_pins_the_projects_versions() -> None:
    project = pins(PROJECT / "requirements.txt")
    assert {name: project.get(name) for name in pins(PACK_DIR / "requirements.txt")} == pins(
        PACK_DIR / "requirements.txt"
    )


def test_the_projects_core_dependencies_are_exactly_what_the_pack_pins() -> None:
    # `-e ..` installs the project's core dependencies: pinned in the same file, nothing else comes along.
    declared = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {normalized(re.split(r"[<>=!~\[; ]", d)[0]) for d in declared} == set(pins(PACK_DIR / "requirements.txt"))


# --- the real virtualenv --------------------------------------------------------------------------------


def test_the_pack_virtualenv_resolves_the_rules_to_this_projects_file(probe: Probed) -> None:
    assert probe.pack_file == PROJECT / "railzway" / "guardrails" / "pack.py"


def test_every_module_the_rules_load_there_is_this_projects(probe: Probed) -> None:
    assert probe.railzway_files
    assert all(f.is_relative_to(PROJECT / "railzway") for f in probe.railzway_files)


def test_the_pack_virtualenv_holds_no_test_kit_or_other_project_folder(venv_python: Path, tmp_path: Path) -> None:
    folders = ("devkit", "components", "tests", "bench")
    script = f"import importlib.util as u; print([n for n in {folders!r} if u.find_spec(n)])"
    result = subprocess.run(
        [venv_python, "-c", script], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=120
    )
    assert (result.returncode, result.stdout) == (0, "[]\n"), result.stderr


def test_the_rules_import_exactly_the_packages_policy_requirements_pins(probe: Probed) -> None:
    imported = set()
    for source in probe.railzway_files:
        for name in third_party_imports(source):
            assert name in probe.distributions, f"{source} imports {name}, which the pack's virtualenv does not hold"
            imported |= {normalized(d) for d in probe.distributions[name]}
    assert imported == set(pins(PACK_DIR / "requirements.txt"))


def test_the_pack_virtualenv_holds_the_pinned_versions(probe: Probed) -> None:
    pinned = pins(PACK_DIR / "requirements.txt")
    assert {name: probe.versions.get(name) for name in pinned} == pinned


def test_no_module_the_pack_loads_edits_the_import_path_or_loads_python_by_path(probe: Probed) -> None:
    by_path = {"spec_from_file_location", "SourceFileLoader", "run_path", "module_from_spec", "import_module"}
    for source in probe.railzway_files:
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                assert not (isinstance(node.value, ast.Name) and node.value.id == "sys" and node.attr == "path"), source
                assert node.attr not in by_path, f"{source}: {node.attr}"
            if isinstance(node, ast.ImportFrom):
                assert node.module not in ("runpy", "importlib", "importlib.util", "importlib.machinery"), source


@pytest.fixture
def served_pack(venv_python: Path) -> Iterator[int]:
    """The pack started as the engine's shim starts it; yields the port it serves on."""
    process = subprocess.Popen(
        [venv_python, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=PACK_DIR,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(120, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None and process.stderr is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.poll() is not None else port
        yield int(port)
    finally:
        watchdog.cancel()
        process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_the_pack_starts_in_its_virtualenv_and_serves_every_policy(served_pack: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{served_pack}") as channel:
        info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=60)
    assert info.name == PACK_NAME
    assert sorted(p.name for p in info.policies) == sorted(p.name for p in POLICIES)
