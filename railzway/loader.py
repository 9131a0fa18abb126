"""Reading and writing the tenants registry: the only code that parses YAML.

The registry is edited by hand in pull requests, so the reader is strict where PyYAML is lenient: it
refuses duplicate keys (PyYAML keeps the last one silently), tags of any kind (never construct Python
objects from data), anchors and aliases (a few bytes can expand to gigabytes), files that are not UTF-8,
and files over `MAX_FILE_BYTES`. Every problem names its file, the line where known, and the field.

Layout of a registry directory:

    tiers.yaml          the tier catalogue (`railzway.model.TierCatalogue`)
    regions.yaml        the region catalogue (`railzway.model.RegionCatalogue`)
    orgs/<org_id>.yaml  one tenant per file (`railzway.model.Tenant`)
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from railzway.model import RegionCatalogue, Registry, Tenant, TierCatalogue

MAX_FILE_BYTES = 64 * 1024
TIERS_FILE = "tiers.yaml"
REGIONS_FILE = "regions.yaml"
ORGS_DIR = "orgs"

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the registry, located as precisely as the input allows."""

    file: str
    message: str
    line: int | None = None
    field: str | None = None
    severity: Literal["error", "warning"] = "error"

    def text(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        what = f"{self.field}: " if self.field else ""
        return f"{where}: {self.severity}: {what}{self.message}"

    def github(self) -> str:
        """A GitHub Actions workflow command, which shows the problem on its line in a pull request."""
        props = f"file={_gh_prop(self.file)}"
        if self.line:
            props += f",line={self.line}"
        if self.field:
            props += f",title={_gh_prop(self.field)}"
        return f"::{self.severity} {props}::{_gh_data(self.message)}"


class RegistryError(Exception):
    """The registry is invalid; `problems` lists every error found (not just the first)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(p.text() for p in problems))


class _FileProblem(Exception):
    def __init__(self, message: str, line: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.line, self.field = message, line, field


class _FileProblems(Exception):
    """Every validation error of one file (a file can be wrong in several fields at once)."""

    def __init__(self, problems: list[_FileProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class _Document:
    data: Any
    lines: dict[tuple[str, ...], int]  # key path -> 1-based line of the key


def check_registry(
    directory: str | os.PathLike[str], shards: Collection[tuple[str, int]] | None = None
) -> tuple[Registry | None, list[Problem]]:
    """Validate a registry directory: (the registry or None, every problem including warnings).

    `shards` (a stack's (region, shard) pairs) limits the tenants to those shards: a tenant file whose
    `region` and `shard` are plainly elsewhere is only scanned that far, neither validated nor returned.
    A stack's program needs its own tenants only, and validating every file of a large registry in every
    stack made a fleet's cost grow with stacks x tenants. A file the scan is unsure of is read in full.
    """
    root = Path(directory)
    wanted = None if shards is None else frozenset(shards)
    problems: list[Problem] = []
    if not root.is_dir():
        return None, [Problem(str(root), "no such registry directory")]

    tiers = _load_catalogue(root / TIERS_FILE, TierCatalogue, problems)
    regions = _load_catalogue(root / REGIONS_FILE, RegionCatalogue, problems)
    context = {"tiers": tiers, "regions": regions}

    tenants: dict[int, Tenant] = {}
    first_file: dict[int, str] = {}
    for path in _tenant_files(root, problems):
        if wanted is not None and (placed := _placement(path)) is not None and placed not in wanted:
            continue
        display = str(path)
        try:
            doc = _read(path)
            tenant = _validate(Tenant, doc, context)
        except _FileProblem as e:
            problems.append(Problem(display, e.message, e.line, e.field))
            continue
        except _FileProblems as e:
            problems.extend(Problem(display, p.message, p.line, p.field) for p in e.problems)
            continue
        if path.stem != str(tenant.org_id):
            problems.append(
                Problem(
                    display,
                    f"file name must be {tenant.org_id}.yaml to match org_id",
                    doc.lines.get(("org_id",)),
                    "org_id",
                )
            )
        if tenant.org_id in first_file:
            problems.append(
                Problem(
                    display,
                    f"org_id {tenant.org_id} is also defined in {first_file[tenant.org_id]}",
                    doc.lines.get(("org_id",)),
                    "org_id",
                )
            )
            continue
        first_file[tenant.org_id] = display
        if wanted is None or (tenant.region, tenant.shard) in wanted:
            tenants[tenant.org_id] = tenant

    if tiers is None or regions is None or any(p.severity == "error" for p in problems):
        return None, problems
    registry = Registry(tiers=tiers, regions=regions, tenants=tenants)
    for (region, shard), size in sorted(registry.shard_sizes().items()):
        if size > regions.max_tenants_per_shard:
            problems.append(
                Problem(
                    str(root / REGIONS_FILE),
                    f"shard {region}/{shard} holds {size} tenants, over max_tenants_per_shard "
                    f"({regions.max_tenants_per_shard}): raise `shards` for {region} and place new tenants there",
                    severity="warning",
                )
            )
    return registry, problems


def load_registry(directory: str | os.PathLike[str], shards: Collection[tuple[str, int]] | None = None) -> Registry:
    """The registry (only the tenants of `shards` when given, see `check_registry`), or `RegistryError`
    listing every error. Warnings do not stop it."""
    registry, problems = check_registry(directory, shards)
    if registry is None:
        raise RegistryError([p for p in problems if p.severity == "error"])
    return registry


def tenant_path(directory: str | os.PathLike[str], org_id: int) -> Path:
    return Path(directory) / ORGS_DIR / f"{org_id}.yaml"


def dump_tenant(tenant: Tenant) -> str:
    """The canonical text of a tenant file: fields in declaration order, defaults left out."""
    data = tenant.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=False)


def write_tenant(directory: str | os.PathLike[str], tenant: Tenant) -> Path:
    """Write a tenant file atomically: a reader (or a crash) sees the old file or the new one, never half."""
    path = tenant_path(directory, tenant.org_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{tenant.org_id}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(dump_tenant(tenant))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def parse_tenant(text: str | bytes, registry: Registry, display: str = "<tenant>") -> Tenant:
    """Validate one tenant file's content against a registry's catalogues (RegistryError when invalid)."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    try:
        return _validate(Tenant, _parse(raw), registry.context())
    except _FileProblem as e:
        raise RegistryError([Problem(display, e.message, e.line, e.field)]) from None
    except _FileProblems as e:
        raise RegistryError([Problem(display, p.message, p.line, p.field) for p in e.problems]) from None


def _tenant_files(root: Path, problems: list[Problem]) -> Iterator[Path]:
    orgs = root / ORGS_DIR
    if not orgs.is_dir():
        problems.append(Problem(str(orgs), "missing: tenant files live in orgs/<org_id>.yaml"))
        return
    for entry in sorted(os.scandir(orgs), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        path = orgs / entry.name
        if not entry.is_file() or not entry.name.endswith(".yaml"):
            problems.append(Problem(str(path), "unexpected entry: tenant files are orgs/<org_id>.yaml"))
            continue
        yield path


# A YAML 1.1 int that reads the same in base 10 (no sign, no leading zero: "010" is octal 8 to PyYAML).
_DECIMAL_RE = re.compile(r"^(?:0|[1-9][0-9]*)$")


# The lines of a tenant file as `dump_tenant` and people write them, where YAML cannot mean anything but
# what the line says: `key: value` at column 0 (a top-level key) or, after a key without value, equally
# indented `key: value` lines (its mapping); values plain words or quoted on one line; comments; blanks.
_TOP_LINE_RE = re.compile(r"([a-z_]+):(?: +([A-Za-z0-9_][A-Za-z0-9_./+-]*|\"[^\"\\]*\"|'[^']*'))?(?: +#.*)?")
_NESTED_LINE_RE = re.compile(r" +[a-z_]+: +(?:[A-Za-z0-9_][A-Za-z0-9_./+-]*|\"[^\"\\]*\"|'[^']*')(?: +#.*)?")
_BLANK_OR_COMMENT_RE = re.compile(r" *(?:#.*)?")


def _simple_placement(text: str) -> tuple[str, int] | None:
    """(region, shard) when every line of `text` is a simple line (see `_TOP_LINE_RE`), else None."""
    found: dict[str, list[str]] = {"region": [], "shard": []}
    nested_allowed, indent = False, 0
    for line in text.split("\n"):
        if _BLANK_OR_COMMENT_RE.fullmatch(line):
            continue
        if line.startswith(" "):
            depth = len(line) - len(line.lstrip(" "))
            if not nested_allowed or indent not in (0, depth) or not _NESTED_LINE_RE.fullmatch(line):
                return None
            indent = depth
            continue
        top = _TOP_LINE_RE.fullmatch(line)
        if top is None:
            return None
        key, value = top.group(1), top.group(2)
        nested_allowed, indent = value is None, 0
        if key in found:
            # A quoted value is a string: a quoted shard is not an int (the full reading reports it).
            if value is None or value[0] in "\"'":
                return None
            found[key].append(value)
    regions, shards = found["region"], found["shard"]
    if len(regions) != 1 or len(shards) > 1 or (shards and not _DECIMAL_RE.match(shards[0])):
        return None
    return regions[0], int(shards[0]) if shards else 0


def _placement(path: Path) -> tuple[str, int] | None:
    """(region, shard) of a tenant file from its YAML events alone, or None when unsure.

    Sure only for one document holding one mapping whose top-level `region` and `shard` (absent: 0) are
    plain scalars without tag or anchor, each given once, the shard a plain decimal: the values the full
    reading gives. Anything else, including every malformed file, is None, so the caller reads the file
    in full and reports what is wrong.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            return None
        text = raw.decode("utf-8")
        simple = _simple_placement(text)
        if simple is not None:
            return simple
        found: dict[str, list[str]] = {"region": [], "shard": []}
        documents, depth, key = 0, 0, None
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    return None
            elif isinstance(event, yaml.AliasEvent):
                return None
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if depth == 1 and key in found:
                    return None
                depth, key = depth + 1, None
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.ScalarEvent) and depth == 1:
                if key is None:
                    key = event.value
                    continue
                if key in found:
                    if event.tag is not None or event.anchor is not None or event.style not in (None, ""):
                        return None
                    found[key].append(event.value)
                key = None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    regions, shards = found["region"], found["shard"]
    if len(regions) != 1 or len(shards) > 1 or (shards and not _DECIMAL_RE.match(shards[0])):
        return None
    return regions[0], int(shards[0]) if shards else 0


def _load_catalogue(path: Path, model: type[BaseModel], problems: list[Problem]) -> Any:
    try:
        return _validate(model, _read(path), {})
    except _FileProblem as e:
        problems.append(Problem(str(path), e.message, e.line, e.field))
    except _FileProblems as e:
        problems.extend(Problem(str(path), p.message, p.line, p.field) for p in e.problems)
    return None


def _read(path: Path) -> _Document:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise _FileProblem("missing file") from None
    except OSError as e:
        raise _FileProblem(f"cannot read: {e.strerror}") from None
    return _parse(raw)


def _parse(raw: bytes) -> _Document:
    if len(raw) > MAX_FILE_BYTES:
        raise _FileProblem(f"file is larger than {MAX_FILE_BYTES // 1024} KiB; a registry file is a few hundred bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _FileProblem(f"not UTF-8 text (invalid byte at offset {e.start})") from None
    if "\x00" in text:
        raise _FileProblem("not text: contains a NUL byte")
    if not text.strip():
        raise _FileProblem("empty file")
    try:
        _check_events(text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:  # only comments
                raise _FileProblem("empty file")
            lines: dict[tuple[str, ...], int] = {}
            _check_node(node, (), lines)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        reason = getattr(e, "problem", None) or str(e)
        raise _FileProblem(f"not valid YAML: {reason}", mark.line + 1 if mark else None) from None
    if data is None:
        raise _FileProblem("empty file")
    if not isinstance(data, dict):
        raise _FileProblem(f"the document must be a mapping of fields, not a {_yaml_type(data)}", 1)
    return _Document(data, lines)


def _check_events(text: str) -> None:
    documents = 0
    for event in yaml.parse(text, Loader=_Loader):
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _FileProblem("more than one YAML document: a registry file holds exactly one", line)
        elif isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _FileProblem("YAML anchors and aliases are not allowed in the registry", line)
        elif (tag := getattr(event, "tag", None)) is not None:
            raise _FileProblem(f"YAML tags are not allowed in the registry (found {tag})", line)


def _check_node(node: yaml.Node, path: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise _FileProblem("mapping keys must be plain names", key.start_mark.line + 1)
            line = key.start_mark.line + 1
            field = ".".join((*path, key.value))
            if key.value in seen:
                raise _FileProblem(f"duplicate key (first on line {seen[key.value]})", line, field)
            seen[key.value] = line
            lines[(*path, key.value)] = line
            _check_node(value, (*path, key.value), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_node(item, (*path, str(index)), lines)


def _validate(model: type[Any], doc: _Document, context: dict[str, Any]) -> Any:
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as e:
        raise _FileProblems([_located(error, model, doc) for error in e.errors(include_url=False)]) from None


def _located(error: Any, model: type[Any], doc: _Document) -> _FileProblem:
    loc = tuple(str(part) for part in error["loc"])
    line = None
    for depth in range(len(loc), 0, -1):
        line = doc.lines.get(loc[:depth])
        if line:
            break
    return _FileProblem(_friendly(error, model), line, ".".join(loc) or None)


def _friendly(error: Any, model: type[Any]) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "extra_forbidden":
        allowed = ", ".join(model.model_fields) if len(error["loc"]) == 1 else "see the documentation"
        return f"unknown field (allowed: {allowed})"
    if kind == "missing":
        return "required field is missing"
    if message.startswith("Value error, "):
        return message[len("Value error, ") :]
    value = error.get("input")
    if kind == "string_type" and value is not None:
        return f"must be a string, got {_yaml_type(value)} {value!r}: quote it in YAML"
    if kind.endswith("_type") and value is not None:
        return f"{message[0].lower()}{message[1:]}, got {_yaml_type(value)} {value!r}"
    return f"{message[0].lower()}{message[1:]}"


def _yaml_type(value: Any) -> str:
    return {dict: "mapping", list: "sequence", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), type(value).__name__
    )


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")
