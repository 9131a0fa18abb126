"""The house's layers (README.md, "Layers"): every room of the product imports only rooms below it.

A room is a folder of `railzway/` (or `components/`, the program, the policy pack's entry). Rooms on the
same floor never import each other either, so a floor can be read, and changed, without the ones beside it.
The pure rooms (the stack configuration and the tenant specification) import neither Pulumi nor anything
that talks to the outside, and the Cloud DB package knows nothing of Pulumi.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent

# The floor of each room; README.md's layer list is this table in words.
FLOORS: dict[str, int] = {
    "railzway": 0,  # the package's own __init__: its version, nothing else
    "railzway.registry": 1,
    "railzway.config": 2,
    "railzway.tenant": 2,
    "railzway.clouddb": 3,
    "railzway.admin": 3,
    "railzway.lifecycle": 4,
    "railzway.audit": 5,
    "railzway.guardrails": 5,
    "components": 5,
    "railzway.adopt": 6,
    "railzway.engine": 6,
    "policy": 6,
    "railzway.fleet": 7,
    "railzway.service": 7,
    "program": 7,  # __main__.py, the Pulumi program
    "railzway.cli": 8,
    "railzway.__main__": 9,
}
PURE_ROOMS = ("railzway.config", "railzway.tenant")
# What a pure room may not import: Pulumi, and anything that reaches a server, a process or the network.
IMPURE_LIBRARIES = ("pulumi", "pulumi_policy", "psycopg", "psycopg_pool", "subprocess", "socket", "httpx", "obstore")


@dataclass(frozen=True)
class Import:
    source: Path
    line: int
    target: str

    def __str__(self) -> str:
        where = self.source.relative_to(PROJECT) if self.source.is_relative_to(PROJECT) else self.source.name
        return f"{where}:{self.line} imports {self.target}"


def product_files() -> list[Path]:
    files = [*PROJECT.glob("railzway/**/*.py"), *PROJECT.glob("components/*.py")]
    return sorted([*files, PROJECT / "__main__.py", PROJECT / "policy" / "__main__.py"])


def room_of_file(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    if parts == ("__main__",):
        return "program"
    if parts[0] != "railzway":
        return parts[0]
    if len(parts) == 2:
        return "railzway" if parts[1] == "__init__" else f"railzway.{parts[1]}"
    return f"railzway.{parts[1]}"


def room_of_module(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "components":
        return "components"
    if parts[0] != "railzway":
        return None
    if len(parts) == 1:
        return "railzway"
    return f"railzway.{parts[1]}"


def imports_of(path: Path) -> Iterator[Import]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "railzway":  # `from railzway import __version__` reads the package root itself
                names = [a.name for a in node.names]
                yield from (
                    Import(path, node.lineno, f"railzway.{n}" if n != "__version__" else "railzway") for n in names
                )
            else:
                yield Import(path, node.lineno, node.module)


def upward_imports(files: Iterable[tuple[str, Path]]) -> list[str]:
    """Each import, by a file of room `mine`, of a room on the same floor or above."""
    found = []
    for mine, path in files:
        for imp in imports_of(path):
            theirs = room_of_module(imp.target)
            if theirs is not None and theirs != mine and FLOORS[theirs] >= FLOORS[mine]:
                found.append(f"{imp} (floor {FLOORS[mine]} -> {FLOORS[theirs]})")
    return found


def test_every_product_module_lives_in_a_room_with_a_floor() -> None:
    rooms = {room_of_file(path) for path in product_files()}
    assert sorted(rooms - set(FLOORS)) == [], "give each new room a floor in FLOORS and in README.md's layer list"


def test_no_room_imports_a_room_on_its_own_floor_or_above() -> None:
    assert upward_imports((room_of_file(path), path) for path in product_files()) == []


def test_an_upward_or_sideways_import_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import json\n\nfrom railzway.engine.stacks import StackRef\nfrom railzway.audit import run\n")
    assert upward_imports([("railzway.registry", probe), ("railzway.guardrails", probe)]) == [
        "probe.py:3 imports railzway.engine.stacks (floor 1 -> 6)",
        "probe.py:4 imports railzway.audit (floor 1 -> 5)",
        "probe.py:3 imports railzway.engine.stacks (floor 5 -> 6)",
        "probe.py:4 imports railzway.audit (floor 5 -> 5)",
    ]


@pytest.mark.parametrize("room", PURE_ROOMS)
def test_pure_rooms_import_no_pulumi_and_no_io(room: str) -> None:
    impure = [
        str(imp)
        for path in product_files()
        if room_of_file(path) == room
        for imp in imports_of(path)
        if imp.target.split(".")[0] in IMPURE_LIBRARIES
    ]
    assert impure == []


def test_the_cloud_db_package_knows_nothing_of_pulumi() -> None:
    found = [
        str(imp)
        for path in product_files()
        if room_of_file(path) == "railzway.clouddb"
        for imp in imports_of(path)
        if imp.target.split(".")[0].startswith("pulumi")
    ]
    assert found == []


def test_only_components_and_the_program_use_resource_providers() -> None:
    # Pulumi resources are declared inside components; the program only wires providers to them.
    providers = ("pulumi_postgresql", "pulumi_nomad", "pulumi_random", "pulumi_command")
    found = [
        str(imp)
        for path in product_files()
        if room_of_file(path) not in ("components", "program")
        for imp in imports_of(path)
        if imp.target.split(".")[0] in providers
    ]
    assert found == []


def readme_floors() -> dict[str, int]:
    """The rooms of README.md's layer table, by floor (`tenants/`, the data, is no room of code)."""
    floors: dict[str, int] = {}
    for line in (PROJECT / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) == 3 and cells[0].isdigit():
            for name in re.findall(r"`([^`]+)`", cells[1]):
                floors[name] = int(cells[0])
    return floors


def test_readme_s_layer_table_is_this_one() -> None:
    as_folders = {
        "program": "__main__.py",
        "components": "components/",
        "policy": "policy/",
        **{
            room: room.replace(".", "/") + "/"
            for room in FLOORS
            if room.startswith("railzway.") and room != "railzway.__main__"
        },
    }
    expected = {as_folders[room]: floor for room, floor in FLOORS.items() if room in as_folders}
    assert {name: floor for name, floor in readme_floors().items() if name != "tenants/"} == expected


def test_no_two_product_modules_share_a_name() -> None:
    # Two `runner.py` (or `report.py`) make every stack trace, grep and review ask "which one?".
    by_name: dict[str, list[str]] = {}
    for path in product_files():
        if path.name not in ("__init__.py", "__main__.py"):
            by_name.setdefault(path.name, []).append(str(path.relative_to(PROJECT)))
    assert {name: paths for name, paths in by_name.items() if len(paths) > 1} == {}
