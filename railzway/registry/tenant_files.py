"""Writing tenant files: an edit changes the lines it means to change and keeps everything people wrote.

`assign-shard`, `move` and the service each change one or two fields of a file that people also edit by
hand, with comments, blank lines and quoting of their own. Rewriting the whole file from the model lost
all of that (and added `password_rotation: initial`), so a write is a round-trip edit with ruamel.yaml:
only fields whose value changes are touched, a quoted value stays quoted the same way, a new key goes
after the field it follows in the model.

ruamel.yaml is used here as a writer only. The loader stays the one reader whose answer counts: every
text this module produces is read back by the loader and must give exactly the tenant being written
(and record its shard: every tenant file does), or nothing is written. ruamel is not imported by the loader,
so the policy pack's environment does not need it.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from railzway.registry.loader import RegistryError, parse_tenant, read_tenant_file, tenant_path
from railzway.registry.model import Tenant

# Plain words that a YAML 1.1 reader (the loader's) reads back as the same string.
_PLAIN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_./+-]*|[0-9][A-Za-z0-9_./+-]*")
_STRING_TAG = "tag:yaml.org,2002:str"
_resolver = yaml.resolver.Resolver()
# Written quoted in new files whatever they hold: a version like 1.10 must never become a number.
_ALWAYS_QUOTED = frozenset({"version", "password_rotation"})


class TenantFileError(Exception):
    """The edit would not read back as the tenant; nothing was written."""


def write_tenant(directory: str | os.PathLike[str], tenant: Tenant) -> Path:
    """Write a tenant's file atomically, editing the existing file in place when there is one."""
    path = tenant_path(directory, tenant.org_id)
    previous = read_tenant_file(directory, tenant.org_id)
    _replace(path, tenant_text(tenant, previous, display=str(path)))
    return path


def tenant_text(tenant: Tenant, previous: bytes | None = None, display: str = "<tenant>") -> str:
    """The text of `tenant`'s file: `previous` edited where it differs, or a new file when None."""
    if previous is None:
        text = _dump(_new_document(tenant), indent=2)
    else:
        text = _edit(tenant, previous, display)
    _check_reads_back(tenant, text, display)
    return text


def _fields(tenant: Tenant) -> dict[str, Any]:
    """The tenant's field values as they are written (None: the key is absent)."""
    return {name: getattr(tenant, name) for name in Tenant.model_fields}


def _new_document(tenant: Tenant) -> CommentedMap:
    document = CommentedMap()
    for name, value in _fields(tenant).items():
        if value is None or (name == "password_rotation" and value == Tenant.model_fields[name].default):
            continue
        document[name] = _node(name, value, None)
    return document


def _edit(tenant: Tenant, previous: bytes, display: str) -> str:
    try:
        before = parse_tenant(previous, None, display, unplaced_ok=True)
    except RegistryError as e:
        raise TenantFileError(f"{display}: not edited, the file is invalid: {e.problems[0].text()}") from None
    text = previous.decode("utf-8")
    document = _round_trip(_indent_of(text)).load(text)
    old, new = _fields(before), _fields(tenant)
    for name, value in new.items():
        present = name in document
        if value is None:
            if present:
                del document[name]
            continue
        if present and old[name] == value:
            continue
        if not present:
            if value == old[name] and name != "shard":
                continue  # the default, as before: leave it unsaid (a file always records its shard)
            _insert(document, name, _node(name, value, None))
            continue
        document[name] = _node(name, value, document[name])
    return _dump(
        document, _indent_of(text), explicit_start=re.search(r"^---[ \t]*(?:#.*)?$", text, re.MULTILINE) is not None
    )


def _node(name: str, value: Any, current: Any) -> Any:
    """`value` as it is written in place of `current` (the value the file holds, None when new)."""
    if isinstance(value, str):
        return _string(name, value, current)
    if isinstance(value, dt.date) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    # A nested model (the scheduled downgrade): edit its mapping in place to keep its comments.
    fields = value.model_dump()
    mapping = current if isinstance(current, CommentedMap) else CommentedMap()
    for key in [k for k in mapping if k not in fields]:
        del mapping[key]
    for key, item in fields.items():
        if key not in mapping or mapping[key] != item:
            mapping[key] = _node(key, item, mapping.get(key))
    return mapping


def _string(name: str, value: str, current: Any) -> Any:
    if isinstance(current, DoubleQuotedScalarString | SingleQuotedScalarString):
        return type(current)(value)  # keep the quoting people chose
    reads_as_string = _resolver.resolve(yaml.ScalarNode, value, (True, False)) == _STRING_TAG
    if _PLAIN_RE.fullmatch(value) and reads_as_string and (current is not None or name not in _ALWAYS_QUOTED):
        return value
    return DoubleQuotedScalarString(value)


def _insert(document: CommentedMap, name: str, value: Any) -> None:
    """Add `name` right after the field that precedes it in the model (or first).

    The comment lines under the preceding key belong to whatever follows them; they move below the new
    key, so a comment stays above the line it was written for.
    """
    order = list(Tenant.model_fields)
    before = [key for key in document if key in order and order.index(key) < order.index(name)]
    position = list(document).index(before[-1]) + 1 if before else 0
    document.insert(position, name, value)
    if not before:
        return
    comments = document.ca.items.get(before[-1])
    if not comments or len(comments) < 3 or comments[2] is None:
        return
    token = comments[2]
    end_of_line, sep, following = token.value.partition("\n")
    if not sep or not following:
        return
    token.value = end_of_line + "\n"
    # A leading newline ends the new key's line: what follows is whole-line comments, not its own.
    document.ca.items[name] = [None, None, CommentToken("\n" + following, CommentMark(0), None), None]


def _check_reads_back(tenant: Tenant, text: str, display: str) -> None:
    try:
        written = parse_tenant(text.encode("utf-8"), None, display)
    except RegistryError as e:
        raise TenantFileError(f"{display}: not written, the edit would not read back: {e.problems[0].text()}") from None
    if written.model_dump() != tenant.model_dump():
        raise TenantFileError(f"{display}: not written, the edit would read back as a different tenant")


def _round_trip(indent: int) -> YAML:
    writer = YAML(typ="rt")
    writer.preserve_quotes = True
    writer.width = 4096  # never fold a long comment or value onto a new line
    writer.indent(mapping=indent, sequence=indent + 2, offset=indent)
    return writer


def _indent_of(text: str) -> int:
    """The indentation of the file's nested mapping (2 when it has none)."""
    match = re.search(r"^[a-z_]+:[ \t]*(?:#.*)?\n(?:[ \t]*(?:#.*)?\n)*( +)\S", text, re.MULTILINE)
    return len(match.group(1)) if match else 2


def _dump(document: CommentedMap, indent: int, *, explicit_start: bool = False) -> str:
    out = io.StringIO()
    writer = _round_trip(indent)
    writer.explicit_start = explicit_start  # a file that starts with `---` keeps it
    writer.dump(document, out)
    # Removing the last block can leave the blank lines that separated it: end with one newline.
    return out.getvalue().rstrip("\n") + "\n"


def _replace(path: Path, text: str) -> None:
    """Write atomically: a reader (or a crash) sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
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
