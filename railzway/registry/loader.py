"""Reading the tenants registry: the only code that parses YAML (`railzway.registry.tenant_files` writes).

The registry is edited by hand in pull requests, so the reader is strict where PyYAML is lenient: it
refuses duplicate keys (PyYAML keeps the last one silently), tags of any kind (never construct Python
objects from data), anchors and aliases (a few bytes can expand to gigabytes), files that are not UTF-8,
files over `MAX_FILE_BYTES`, nesting deeper than `MAX_DEPTH`, and anything but regular files (a symbolic
link could point out of the registry, a FIFO would block). Every problem names its file, the line where
known, and the field; one bad file never hides another's problems.

Layout of a registry directory:

    tiers.yaml          the tier catalogue (`railzway.registry.model.TierCatalogue`)
    regions.yaml        the region catalogue (`railzway.registry.model.RegionCatalogue`)
    orgs/<org_id>.yaml  one tenant per file (`railzway.registry.model.Tenant`)
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import stat
import types
import typing
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from railzway.registry.model import RegionCatalogue, Registry, Tenant, TierCatalogue

MAX_FILE_BYTES = 64 * 1024
TIERS_FILE = "tiers.yaml"
REGIONS_FILE = "regions.yaml"
ORGS_DIR = "orgs"
UNPLACED_MESSAGE = "required field is missing: run `railzway assign-shard` to record the least-loaded shard"

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

    def brief(self) -> str:
        """The problem without its severity, for a message that already says `error:`."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        what = f"{self.field}: " if self.field else ""
        return f"{where}: {what}{self.message}"

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
    directory: str | os.PathLike[str],
    shards: Collection[tuple[str, int]] | None = None,
    *,
    unplaced_ok: bool = False,
) -> tuple[Registry | None, list[Problem]]:
    """Validate a registry directory: (the registry or None, every problem including warnings).

    `shards` (a stack's (region, shard) pairs) limits the tenants to those shards: a tenant file whose
    `region` and `shard` are plainly elsewhere is only scanned that far, neither validated nor returned.
    A stack's program needs its own tenants only, and validating every file of a large registry in every
    stack made a fleet's cost grow with stacks x tenants. A file the scan is unsure of is read in full.

    A tenant file must record its shard (`railzway assign-shard` writes it): without one the tenant has no
    stack. `unplaced_ok` accepts such files (as shard 0), for `assign-shard` itself, which places them.
    """
    root = Path(directory)
    wanted = None if shards is None else frozenset(shards)
    problems: list[Problem] = []
    if not root.is_dir():
        what = "no such registry directory" if not root.exists() else "not a directory"
        return None, [
            Problem(
                str(root), f"{what}: a registry is a directory holding {TIERS_FILE}, {REGIONS_FILE} and {ORGS_DIR}/"
            )
        ]

    tiers = _load_catalogue(root / TIERS_FILE, TierCatalogue, problems)
    regions = _load_catalogue(root / REGIONS_FILE, RegionCatalogue, problems)
    context = {"tiers": tiers, "regions": regions}

    tenants: dict[int, Tenant] = {}
    first_file: dict[int, str] = {}
    for path, raw in _tenant_files(root, problems):
        if wanted is not None and (placed := _placement(raw)) is not None and placed not in wanted:
            continue
        display = str(path)
        try:
            doc = _parse(raw)
            tenant = _validate(Tenant, doc, context)
        except _FileProblem as e:
            problems.append(Problem(display, e.message, e.line, e.field))
            continue
        except _FileProblems as e:
            problems.extend(Problem(display, p.message, p.line, p.field) for p in e.problems)
            if not unplaced_ok and "shard" not in doc.data:
                problems.append(Problem(display, UNPLACED_MESSAGE, field="shard"))
            continue
        if not unplaced_ok and "shard" not in doc.data:
            problems.append(Problem(display, UNPLACED_MESSAGE, field="shard"))
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


def load_registry(
    directory: str | os.PathLike[str],
    shards: Collection[tuple[str, int]] | None = None,
    *,
    unplaced_ok: bool = False,
) -> Registry:
    """The registry (only the tenants of `shards` when given, see `check_registry`), or `RegistryError`
    listing every error. Warnings do not stop it."""
    registry, problems = check_registry(directory, shards, unplaced_ok=unplaced_ok)
    if registry is None:
        raise RegistryError([p for p in problems if p.severity == "error"])
    return registry


def load_tier_catalogue(directory: str | os.PathLike[str]) -> TierCatalogue:
    """Only the registry's tier catalogue (`tiers.yaml`), read and validated as `load_registry` reads it, or
    `RegistryError` naming its problems: for readers that need the tiers and no tenant (the policy pack,
    which learns each tenant's tier and status from the engine)."""
    path = Path(directory) / TIERS_FILE
    problems: list[Problem] = []
    tiers: TierCatalogue | None = _load_catalogue(path, TierCatalogue, problems)
    if tiers is None:
        raise RegistryError(problems or [Problem(str(path), "invalid tier catalogue")])
    return tiers


def past_downgrades(
    directory: str | os.PathLike[str], registry: Registry, today: dt.date, base: Registry | None
) -> list[Problem]:
    """Downgrades dated before `today`: errors when `base` (the registry a change starts from) does not
    hold the same downgrade, else nothing; warnings when there is no base to tell new from merged.

    A downgrade applies from its date: one dated in the past is a mistake when someone writes it, but a
    merged one becomes past on its own, and stays so until the service's hourly task applies it (the
    tier changes and the block goes). Refusing those would fail every later pull request, and the
    program (which never applies this rule), for as long as the service has not run. So only a change
    is judged; without a base, a past date is a warning.
    """
    problems = []
    for tenant in sorted(registry.tenants.values(), key=lambda t: t.org_id):
        downgrade = tenant.downgrade
        if downgrade is None or downgrade.at >= today:
            continue
        merged = base.tenants.get(tenant.org_id) if base is not None else None
        if merged is not None and merged.downgrade == downgrade:
            continue
        path = tenant_path(directory, tenant.org_id)
        try:
            line = _parse(_read_at(None, path.name, path)).lines.get(("downgrade", "at"))
        except _FileProblem:
            line = None
        when = f"{downgrade.at.isoformat()} is in the past (today is {today.isoformat()}, UTC)"
        if base is not None:
            problems.append(Problem(str(path), f"{when}: date a new downgrade today or later", line, "downgrade.at"))
        else:
            problems.append(
                Problem(
                    str(path),
                    f"{when}: the service applies a due downgrade within the hour; if this one is new, date it "
                    "today or later (`validate --base REV` refuses new ones)",
                    line,
                    "downgrade.at",
                    severity="warning",
                )
            )
    return problems


def tenant_path(directory: str | os.PathLike[str], org_id: int) -> Path:
    return Path(directory) / ORGS_DIR / f"{org_id}.yaml"


def parse_tenant(
    text: str | bytes, registry: Registry | None, display: str = "<tenant>", *, unplaced_ok: bool = False
) -> Tenant:
    """Validate one tenant file's content (RegistryError when invalid), against a registry's catalogues
    when given; a file must record its shard unless `unplaced_ok`, as in `check_registry`."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    problems: list[Problem] = []
    try:
        doc = _parse(raw)
        if not unplaced_ok and "shard" not in doc.data:
            problems.append(Problem(display, UNPLACED_MESSAGE, field="shard"))
        tenant = _validate(Tenant, doc, registry.context() if registry is not None else {})
    except _FileProblem as e:
        raise RegistryError([Problem(display, e.message, e.line, e.field)]) from None
    except _FileProblems as e:
        raise RegistryError([Problem(display, p.message, p.line, p.field) for p in e.problems] + problems) from None
    if problems:
        raise RegistryError(problems)
    return tenant


def _tenant_files(root: Path, problems: list[Problem]) -> Iterator[tuple[Path, bytes]]:
    """Each tenant file with its bytes; every other entry of `orgs/` becomes a problem saying what it is.

    The directory and its files are opened without following symbolic links (a link could point out of
    the registry, and `validate` would print what it found there), and only regular files are read: a
    FIFO would block the reader, a device or a link loop would crash it.
    """
    orgs = root / ORGS_DIR
    try:
        orgs_fd = os.open(orgs, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        problems.append(Problem(str(orgs), _unopenable(orgs, e, "tenant files live in orgs/<org_id>.yaml")))
        return
    try:
        for entry in sorted(os.scandir(orgs_fd), key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            path = orgs / entry.name
            well_named = entry.name.endswith(".yaml")
            try:
                raw = _read_at(orgs_fd, entry.name, path)
            except _FileProblem as e:
                hint = "" if well_named else "; tenant files are orgs/<org_id>.yaml"
                problems.append(Problem(str(path), e.message + hint, e.line, e.field))
                continue
            if not well_named:
                problems.append(Problem(str(path), "unexpected file: tenant files are orgs/<org_id>.yaml"))
                continue
            yield path, raw
    finally:
        os.close(orgs_fd)


def read_tenant_file(directory: str | os.PathLike[str], org_id: int) -> bytes | None:
    """The bytes of a tenant's file, read as the registry reads it (regular file, no link, capped), or
    None when it has none. RegistryError names the file when it is not a file the registry accepts."""
    path = tenant_path(directory, org_id)
    try:
        orgs_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise RegistryError([Problem(str(path.parent), _unopenable(path.parent, e, "cannot open"))]) from None
    try:
        return _read_at(orgs_fd, path.name, path)
    except _FileProblem as e:
        if e.message == _MISSING:
            return None
        raise RegistryError([Problem(str(path), e.message, e.line, e.field)]) from None
    finally:
        os.close(orgs_fd)


_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_MISSING = "missing file"


def _read_at(dir_fd: int | None, name: str, display: Path) -> bytes:
    """A registry file's bytes: a regular file, not a symbolic link, at most `MAX_FILE_BYTES` read."""
    try:
        fd = os.open(name if dir_fd is not None else display, _OPEN_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise _FileProblem(_MISSING) from None
    except OSError as e:
        raise _FileProblem(_unopenable(display, e, "cannot read", dir_fd=dir_fd, name=name)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _FileProblem(f"{_kind(info.st_mode)}, not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise _FileProblem(_TOO_LARGE)
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES and (chunk := os.read(fd, MAX_FILE_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as e:
        raise _FileProblem(f"cannot read: {e.strerror}") from None
    finally:
        os.close(fd)


def _unopenable(
    display: Path, error: OSError, otherwise: str, *, dir_fd: int | None = None, name: str | None = None
) -> str:
    """Why an entry could not be opened, saying what the entry is (a link, a FIFO, ...)."""
    try:
        info = os.lstat(name if dir_fd is not None and name is not None else display, dir_fd=dir_fd)
    except OSError:
        return f"missing: {otherwise}" if isinstance(error, FileNotFoundError) else f"{otherwise}: {error.strerror}"
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.readlink(name if dir_fd is not None and name is not None else display, dir_fd=dir_fd)
        except OSError:
            target = "?"
        try:
            os.stat(name if dir_fd is not None and name is not None else display, dir_fd=dir_fd)
            state = ""
        except OSError as e:
            state = ", a link loop" if e.errno == errno.ELOOP else ", which does not exist"
        return f"a symbolic link (to {target!r}{state}): the registry follows no links, since one could point out of it"
    if error.errno == errno.ENOTDIR:
        return f"{_kind(info.st_mode)}, not a directory: {otherwise}"
    if not stat.S_ISDIR(info.st_mode) and not stat.S_ISREG(info.st_mode):
        return f"{_kind(info.st_mode)}, not a regular file"
    return f"{otherwise}: {error.strerror}"


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a special file"


# A YAML 1.1 int that reads the same in base 10 (no sign, no leading zero: "010" is octal 8 to PyYAML).
_DECIMAL_RE = re.compile(r"0|[1-9][0-9]*")

# The lines of a tenant file as the writers and people write them, where YAML cannot mean anything but
# what the line says: `key: value` at column 0 (a top-level key) or, after a key without value, equally
# indented `key: value` lines (its mapping); values plain words or quoted on one line; comments; blanks.
# Keys are short: YAML refuses an implicit key over 1024 characters.
_TOP_LINE_RE = re.compile(r"([a-z_]{1,64}):(?: +([A-Za-z0-9_][A-Za-z0-9_./+-]*|\"[^\"\\]*\"|'[^']*'))?(?: +#.*)?")
_NESTED_LINE_RE = re.compile(r" +([a-z_]{1,64}): +(?:[A-Za-z0-9_][A-Za-z0-9_./+-]*|\"[^\"\\]*\"|'[^']*')(?: +#.*)?")
_BLANK_OR_COMMENT_RE = re.compile(r" *(?:#.*)?")
# Characters after which the scan and YAML could part ways: every YAML line break but `\n` (`\r`, NEL,
# U+2028, U+2029), tabs, the byte-order mark, and everything YAML refuses as non-printable. A file with
# any of them is read in full.
_UNSURE_RE = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
_STRING = "tag:yaml.org,2002:str"
_resolver = yaml.resolver.Resolver()


def _placement(raw: bytes) -> tuple[str, int] | None:
    """(region, shard) of a tenant file from its lines alone, or None when unsure.

    Sure only when every line is a simple line (see `_TOP_LINE_RE`), no key repeats, `region` is one
    plain value that YAML reads as a string and `shard` one plain decimal: then the full reading gives
    these same values (a property test holds the two readers to it). Anything else, including every
    malformed file and every file without a shard, is None: the caller reads it in full and reports.
    """
    if len(raw) > MAX_FILE_BYTES:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _UNSURE_RE.search(text):
        return None
    top: set[str] = set()
    nested: set[str] = set()
    found: dict[str, str] = {}
    nested_allowed, indent = False, 0
    for line in text.split("\n"):
        if _BLANK_OR_COMMENT_RE.fullmatch(line):
            continue
        if line.startswith(" "):
            depth = len(line) - len(line.lstrip(" "))
            m = _NESTED_LINE_RE.fullmatch(line)
            if not nested_allowed or indent not in (0, depth) or m is None or m.group(1) in nested:
                return None
            nested.add(m.group(1))
            indent = depth
            continue
        m = _TOP_LINE_RE.fullmatch(line)
        if m is None or m.group(1) in top:
            return None
        key, value = m.group(1), m.group(2)
        top.add(key)
        nested_allowed, indent, nested = value is None, 0, set()
        if key in ("region", "shard"):
            # A quoted value is a string: a quoted shard is not an int (the full reading reports it).
            if value is None or value[0] in "\"'":
                return None
            found[key] = value
    region, shard = found.get("region"), found.get("shard")
    if region is None or shard is None or not _DECIMAL_RE.fullmatch(shard):
        return None
    if _resolver.resolve(yaml.ScalarNode, region, (True, False)) != _STRING:
        return None  # `region: null`, `region: yes`: not a string, the full reading refuses it
    return region, int(shard)


def _load_catalogue(path: Path, model: type[BaseModel], problems: list[Problem]) -> Any:
    try:
        return _validate(model, _parse(_read_at(None, path.name, path)), {})
    except _FileProblem as e:
        problems.append(Problem(str(path), e.message, e.line, e.field))
    except _FileProblems as e:
        problems.extend(Problem(str(path), p.message, p.line, p.field) for p in e.problems)
    return None


_TOO_LARGE = f"file is larger than {MAX_FILE_BYTES // 1024} KiB; a registry file is a few hundred bytes"
# A tenant file nests two levels deep, a catalogue three. PyYAML's composer recurses once per level (and
# LibYAML's crashes the process on tens of thousands), so depth is checked on the event stream first.
MAX_DEPTH = 16


def _parse(raw: bytes) -> _Document:
    if len(raw) > MAX_FILE_BYTES:
        raise _FileProblem(_TOO_LARGE)
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
            try:
                data = loader.construct_document(node)
            except (ValueError, OverflowError) as e:  # a timestamp-looking value that is no date: 2026-13-01
                raise _FileProblem(f"a value YAML cannot read: {e}") from None
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
    depth = 0
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
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _FileProblem(f"nested more than {MAX_DEPTH} levels deep: a registry file nests 2 or 3", line)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


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
        allowed = _fields_at(model, tuple(error["loc"])[:-1])
        return f"unknown field (allowed: {', '.join(allowed)})" if allowed else "unknown field"
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


def _fields_at(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model found at `loc` inside `model` (a mapping's key steps into its values)."""
    annotation: Any = model
    parts = list(loc)
    while True:
        for arg in (
            typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else ()
        ):
            if arg is not type(None):
                annotation = arg
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if not parts:
                return list(annotation.model_fields)
            field = annotation.model_fields.get(str(parts.pop(0)))
            if field is None:
                return []
            annotation = field.annotation
        elif typing.get_origin(annotation) is dict and parts:
            parts.pop(0)
            annotation = typing.get_args(annotation)[1]
        else:
            return []


def _yaml_type(value: Any) -> str:
    return {dict: "mapping", list: "sequence", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), type(value).__name__
    )


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")
