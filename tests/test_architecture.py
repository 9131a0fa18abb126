"""The product holds no test kit and no private Pulumi name; in `devkit`, one function uses the SDK's internals.

Every module of the product (`railzway/`, `components/`, the program `__main__.py`, the policy pack
`policy/`) is parsed, not imported, and each of its imports and dotted names is judged:

- a test kit: anything from `devkit` or `tests`, or a helper module of `tests/` imported by its bare name;
- a private Pulumi name: a name starting with `_` anywhere in a `pulumi` or `pulumi_*` path, or a path of
  the `pulumi` SDK outside its public names: each module on the way must list the next name in its
  `__all__` (so `pulumi.runtime.stack` and `pulumi.runtime.mocks.MockMonitor` are private, while
  `pulumi.runtime.get_config` is public); `pulumi.runtime.rpc` is private although `__all__` names it
  (its functions are undocumented helpers), and `pulumi.log` public although it is missing (documented).

A name read by string (`getattr(x, "_name")`) counts as private too. In `devkit`, every private use must
lie inside `devkit.pulumi_internals.run_recorded`, which `tests/test_pulumi_internals.py` pins.
"""

from __future__ import annotations

import ast
import importlib
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
# Helper modules the tests import by their bare name (pytest puts their folder on sys.path).
TEST_HELPERS = frozenset(
    path.stem for path in (PROJECT / "tests").rglob("*.py") if not path.stem.startswith(("test_", "conftest", "__"))
)
PRIVATE_DESPITE_ALL = frozenset({"pulumi.runtime.rpc"})
PUBLIC_DESPITE_ALL = frozenset({"pulumi.log"})
CONFINED_FILE = PROJECT / "devkit" / "pulumi_internals.py"
CONFINED_FUNCTION = "run_recorded"


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


def product_modules() -> list[Path]:
    found = [
        *(PROJECT / "railzway").rglob("*.py"),
        *(PROJECT / "components").rglob("*.py"),
        PROJECT / "__main__.py",
        *(PROJECT / "policy").glob("*.py"),
    ]
    return sorted(path for path in found if ".venv" not in path.parts)


def devkit_modules() -> list[Path]:
    return sorted((PROJECT / "devkit").rglob("*.py"))


# --- judging one dotted name ---


def private_pulumi_reason(dotted: str) -> str | None:
    """Why `dotted` is a private Pulumi name, or None when it is not one (or not Pulumi's)."""
    parts = dotted.split(".")
    if parts[0] != "pulumi" and not parts[0].startswith("pulumi_"):
        return None
    for part in parts:
        if _private(part):
            return f"{dotted} is private ({part!r} starts with '_')"
    if parts[0] != "pulumi":
        return None
    current: object = importlib.import_module("pulumi")
    for i, part in enumerate(parts[1:], start=1):
        if not isinstance(current, types.ModuleType):
            break  # past the modules: an attribute of a public class or function
        here, path = ".".join(parts[:i]), ".".join(parts[: i + 1])
        if path in PRIVATE_DESPITE_ALL:
            return f"{dotted} is an SDK internal ({path} is not its documented API)"
        public = getattr(current, "__all__", None)
        if public is not None and part not in public and path not in PUBLIC_DESPITE_ALL:
            return f"{dotted} is an SDK internal ({part!r} is not among {here}'s public names)"
        try:
            current = getattr(current, part) if hasattr(current, part) else importlib.import_module(path)
        except ImportError:
            return None  # a name the SDK does not have: the import itself fails, loudly
    return None


def _private(name: str) -> bool:
    """A leading underscore, not a dunder (`__name__`, `__version__` are public by convention)."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def kit_reason(module: str) -> str | None:
    root = module.split(".")[0]
    if root == "devkit":
        return f"imports the test kit {module}"
    if root == "tests" or root in TEST_HELPERS:
        return f"imports the tests' module {module}"
    return None


# --- walking a module ---


class _Names(ast.NodeVisitor):
    """Every import, and every dotted name rooted at an imported module, with its line."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.bound: dict[str, str] = {}
        self.found: list[tuple[int, str, str]] = []  # (line, kind, dotted): kind is "import" or "name"

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((node.lineno, "import", alias.name))
            if alias.asname:
                self.bound[alias.asname] = alias.name
            else:
                root = alias.name.split(".")[0]
                self.bound[root] = root

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            base = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            module = ".".join([*base, module] if module else base)
        for alias in node.names:
            if alias.name == "*":
                self.found.append((node.lineno, "import", module))
                continue
            dotted = f"{module}.{alias.name}"
            self.found.append((node.lineno, "import", dotted))
            self.bound[alias.asname or alias.name] = dotted

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            chain.append(current.attr)
            current = current.value
        if isinstance(current, ast.Name) and current.id in self.bound:
            self.found.append((node.lineno, "name", ".".join([self.bound[current.id], *reversed(chain)])))
            return  # the inner attributes are prefixes of this chain
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        first = node.args[1] if name in ("getattr", "hasattr") and len(node.args) > 1 else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and _private(first.value):
            self.found.append((node.lineno, "string", first.value))
        if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            if isinstance(node.args[0].value, str):
                self.found.append((node.lineno, "import", node.args[0].value))
        self.generic_visit(node)


def findings(path: Path, source: str | None = None) -> list[Finding]:
    """Every test-kit import and private Pulumi name in the module at `path`."""
    relative = path.relative_to(PROJECT) if path.is_absolute() else path
    tree = ast.parse(source if source is not None else path.read_text(), filename=str(relative))
    # The package a relative import starts from: the module's folder (for an `__init__.py` too).
    walker = _Names(".".join(relative.parts[:-1]))
    walker.visit(tree)
    result: list[Finding] = []
    for line, kind, dotted in walker.found:
        if kind == "string":
            result.append(Finding(str(relative), line, f"reads the private name {dotted!r} by string"))
            continue
        reason = (kit_reason(dotted) if kind == "import" else None) or private_pulumi_reason(dotted)
        if reason:
            result.append(Finding(str(relative), line, reason))
    return sorted(set(result), key=lambda f: (f.path, f.line, f.problem))


def function_lines(path: Path, name: str) -> range:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return range(node.lineno, (node.end_lineno or node.lineno) + 1)
    raise AssertionError(f"{path.relative_to(PROJECT)} has no function {name}")


def _report(found: list[Finding]) -> str:
    return "\n".join(str(f) for f in found)


# --- the rules ---


def test_every_product_module_is_checked() -> None:
    names = {str(path.relative_to(PROJECT)) for path in product_modules()}
    assert {"__main__.py", "policy/__main__.py", "railzway/cli/__init__.py", "components/tenant_instance.py"} <= names
    assert len(names) > 60


def test_no_product_module_imports_a_test_kit_or_a_private_pulumi_name() -> None:
    found = [finding for path in product_modules() for finding in findings(path)]
    assert not found, "the product must not use these:\n" + _report(found)


def test_in_devkit_only_run_recorded_uses_the_sdks_internals() -> None:
    confined = function_lines(CONFINED_FILE, CONFINED_FUNCTION)
    outside = [
        finding
        for path in devkit_modules()
        for finding in findings(path)
        if not finding.problem.startswith("imports the test kit devkit")
        if not (path == CONFINED_FILE and finding.line in confined)
    ]
    assert not outside, f"only devkit.pulumi_internals.{CONFINED_FUNCTION} may use these:\n" + _report(outside)


def test_run_recorded_is_where_the_internals_are() -> None:
    # Otherwise the confinement above would hold vacuously, and the pins would pin nothing in use.
    confined = function_lines(CONFINED_FILE, CONFINED_FUNCTION)
    inside = {f.problem for f in findings(CONFINED_FILE) if f.line in confined}
    assert any("pulumi.runtime.mocks.MockMonitor" in problem for problem in inside)
    assert any("_sync_await" in problem for problem in inside)
    assert any("'_pulumi_name'" in problem for problem in inside)


def test_devkit_imports_nothing_from_the_tests() -> None:
    # The benchmarks and the demo use devkit where no tests folder is needed.
    found = [f for path in devkit_modules() for f in findings(path) if f.problem.startswith("imports the tests'")]
    assert not found, "devkit must not import the tests:\n" + _report(found)


# --- the checker itself: it finds what it must, where it is ---


@pytest.mark.parametrize(
    ("source", "line", "expected"),
    [
        ("import os\nfrom devkit.localpg import LocalPostgres\n", 2, "imports the test kit devkit.localpg"),
        ("import devkit.mockrun as m\n", 1, "imports the test kit devkit.mockrun"),
        ("from tests.e2e_support import drop_tenants\n", 1, "imports the tests' module tests.e2e_support"),
        ("from fake_runner import FakeStacks\n", 1, "imports the tests' module fake_runner"),
        ("from pulumi.runtime.sync_await import _sync_await\n", 1, "'_sync_await' starts with '_'"),
        ("from pulumi.runtime.stack import massage\n", 1, "'stack' is not among pulumi.runtime's public names"),
        ("import pulumi.runtime\n\npulumi.runtime.rpc.serialize_properties({}, {})\n", 3, "pulumi.runtime.rpc is not"),
        ("from pulumi.runtime import mocks\n\nmocks.MockMonitor\n", 1, "'mocks' is not among pulumi.runtime's"),
        ("import pulumi.runtime.settings as s\n", 1, "'settings' is not among pulumi.runtime's public names"),
        ("from pulumi_policy import _private\n", 1, "'_private' starts with '_'"),
        ("x = getattr(f, '_pulumi_name', None)\n", 1, "reads the private name '_pulumi_name' by string"),
        ("import importlib\nimportlib.import_module('devkit.demo')\n", 2, "imports the test kit devkit.demo"),
    ],
)
def test_the_checker_names_the_line_and_the_problem(source: str, line: int, expected: str) -> None:
    found = findings(Path("railzway/example.py"), source)
    # Named where it is imported (and again wherever the module is used).
    assert min((f.line for f in found if expected in f.problem), default=None) == line, _report(found)


@pytest.mark.parametrize(
    "source",
    [
        "import pulumi\n\npulumi.Output.secret('x')\npulumi.log.info('x')\npulumi.ResourceOptions(import_='i')\n",
        "import pulumi.runtime\n\npulumi.runtime.get_config('a:b')\npulumi.runtime.is_dry_run()\n",
        "from pulumi import automation as auto\n\nauto.LocalWorkspace\n",
        "import pulumi_postgresql as postgresql\n\npostgresql.Role\n",
        "from railzway.registry import naming\n\nnaming.role_name(1)\n",
    ],
)
def test_the_checker_passes_the_public_api(source: str) -> None:
    assert findings(Path("railzway/example.py"), source) == []


def test_the_checker_resolves_relative_imports() -> None:
    found = findings(Path("railzway/service/example.py"), "from ...devkit import localpg\n")
    assert [str(f) for f in found] == ["railzway/service/example.py:1: imports the test kit devkit.localpg"]
