"""pg_dump and pg_restore of the server's own major version, from Debian's packages, streamed.

Debian installs each major version's client programs under /usr/lib/postgresql/<major>/bin (package
`postgresql-client-<major>`); the server's major version picks the directory, so the archive format and
the catalogue queries always match the server. Both programs get the admin's connection through
`admin.tenant_conninfo`: pinned search path, password in the environment, never on the command line.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CLIENT_DIR = "/usr/lib/postgresql/{major}/bin"
CHUNK = 1024 * 1024
MAX_STDERR = 2000


class ToolError(Exception):
    """pg_dump or pg_restore is missing or failed; the message is one line for the operator."""


def find_tool(name: str, major: int, base: str = CLIENT_DIR) -> Path:
    """The `name` program of PostgreSQL `major`, or ToolError naming the package to install."""
    path = Path(base.format(major=major)) / name
    if not path.is_file():
        raise ToolError(
            f"{path} is missing: the server is PostgreSQL {major}; install Debian's postgresql-client-{major} "
            f"(`apt-get install -y postgresql-client-{major}`)"
        )
    return path


def tool_version(path: Path) -> str:
    """`pg_dump (PostgreSQL) 15.18 (Debian ...)` -> `15.18`."""
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True, timeout=30).stdout
    words = out.split()
    return words[2] if len(words) > 2 else out.strip()


@dataclass(frozen=True)
class Streamed:
    size_bytes: int
    sha256: str


def dump_to(
    pg_dump: Path, conninfo: str, env: Mapping[str, str], out: BinaryIO, extra_args: Iterable[str] = ()
) -> Streamed:
    """Run pg_dump (custom format) and stream its archive into `out`, hashing as it goes."""
    digest = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [str(pg_dump), "--format=custom", "--no-password", f"--dbname={conninfo}", *extra_args],
            stdout=subprocess.PIPE,
            stderr=errors,
            env=dict(env),
        )
        assert proc.stdout is not None
        try:
            while chunk := proc.stdout.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        finally:
            proc.stdout.close()
            code = proc.wait()
        if code != 0:
            raise ToolError(f"pg_dump exited {code}: {_stderr(errors)}")
    return Streamed(size, digest.hexdigest())


def restore_from(
    pg_restore: Path, conninfo: str, env: Mapping[str, str], chunks: Iterable[bytes], extra_args: Iterable[str] = ()
) -> None:
    """Run pg_restore reading the archive from `chunks` on its stdin; ToolError when it reports any error."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [str(pg_restore), "--no-password", f"--dbname={conninfo}", *extra_args],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=dict(env),
        )
        assert proc.stdin is not None
        try:
            for chunk in chunks:
                proc.stdin.write(chunk)
        except BrokenPipeError:
            pass  # pg_restore stopped reading: its exit status and stderr say why
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
            code = proc.wait()
        if code != 0:
            raise ToolError(f"pg_restore exited {code}: {_stderr(errors)}")


def _stderr(errors: BinaryIO) -> str:
    errors.seek(0)
    text = " ".join(errors.read().decode(errors="replace").split())
    return text[-MAX_STDERR:] or "(no message)"
