"""The registry as it was at a git revision, and what changed since, for `fleet --changed-only` in CI.

`git archive` writes the revision's registry directory into a temporary directory and the one strict
loader reads it there, so a registry at a revision is judged by exactly the rules of the working tree.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path

from railzway.registry.loader import RegistryError, load_registry
from railzway.registry.model import Registry


class RevisionError(Exception):
    """A revision, or the registry path inside it, could not be read (the message says which)."""


def registry_at_revision(registry_dir: str | Path, revision: str) -> Registry | None:
    """The registry `registry_dir` held at `revision`; None when the directory did not exist then.

    `registry_dir` is a directory inside a git work tree (for instance `tenants`). RegistryError when the
    registry at that revision is invalid.
    """
    directory = Path(registry_dir).resolve()
    top = Path(_git(directory.parent if not directory.is_dir() else directory, "rev-parse", "--show-toplevel").strip())
    relative = directory.relative_to(top.resolve()).as_posix()
    commit = _git(top, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check_message=revision).strip()
    exists = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}:{relative}"], cwd=top, capture_output=True, check=False
    )
    if exists.returncode != 0:
        return None
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "--", relative], cwd=top, capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise RevisionError(f"git archive {revision} {relative}: {archive.stderr.decode(errors='replace').strip()}")
    with tempfile.TemporaryDirectory(prefix="railzway-rev-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        try:
            # A base revision may predate the rule that every tenant file records its shard.
            return load_registry(Path(tmp) / relative, unplaced_ok=True)
        except RegistryError as e:
            # Name the files as `<revision>:<path>` (what `git show` takes), not by the temporary directory.
            raise RegistryError(
                [replace(p, file=p.file.replace(tmp, revision + ":", 1).replace(":/", ":", 1)) for p in e.problems]
            ) from None


def changed_paths(directory: str | Path, base: str, head: str = "HEAD") -> frozenset[Path]:
    """The files that differ between `base` and `head` in the git work tree holding `directory`, resolved.

    Renames count as a deletion and an addition, so both names are there.
    """
    start = Path(directory).resolve()
    top = Path(_git(start if start.is_dir() else start.parent, "rev-parse", "--show-toplevel").strip())
    commits = [
        _git(top, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check_message=rev).strip()
        for rev in (base, head)
    ]
    names = _git(top, "diff", "--name-only", "--no-renames", "-z", *commits, "--").split("\0")
    return frozenset((top / name).resolve() for name in names if name)


def _git(cwd: Path, *args: str, check_message: str | None = None) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise RevisionError("git is not installed") from None
    if done.returncode != 0:
        if check_message is not None:
            raise RevisionError(f"unknown git revision {check_message!r}")
        raise RevisionError(f"git {' '.join(args)}: {done.stderr.strip() or 'failed'} (in {cwd})")
    return done.stdout
