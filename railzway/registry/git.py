"""The registry's git history: the service's own clone of the branch, its commits, and how far a revision is behind.

The registry in git is the one desired state. The service changes it the way a person does: on top of the
remote's latest branch head, one commit per request, pushed. When the push is refused because someone
pushed first (a pull request merged meanwhile), the clone fetches, the change is computed again on the new
head and the push retried; the change is re-planned rather than rebased, so a value a pull request set is
read, never overwritten with the service's older view of it.

The git CLI does the work (not dulwich or pygit2): it brings git's own credential helpers, SSH
configuration and `insteadOf` rules, which is how credentials reach it (never through our settings or a
URL we log); it is already what `fleet --changed-only` reads revisions with; and a repository that the
CLI handles is by definition one an operator can inspect with the same tool. Every call runs with
`GIT_TERMINAL_PROMPT=0`, so a missing credential fails at once instead of waiting for a terminal, and
every error message is scrubbed of URL user-info before it reaches a log or an exception.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import re
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

ORGS_DIR = "orgs"
PUSH_ATTEMPTS = 5
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_ORG_FILE = re.compile(r"^(\d+)\.ya?ml$")


class GitError(RuntimeError):
    """A git command failed; the message names the command and git's reason (credentials scrubbed)."""


class PushRejected(GitError):
    """The remote kept refusing the push (someone else pushed first every time)."""


def scrub(text: str) -> str:
    """`text` without the user-info part of any URL in it (`https://user:token@host` -> `https://host`)."""
    return _USERINFO.sub("", text)


def has_password(url: str) -> bool:
    """Whether a remote URL carries a password (refused: credentials go through git's own mechanisms)."""
    if "://" not in url:
        return False
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return True


@dataclass(frozen=True)
class Identity:
    """Who the service's commits are by."""

    name: str
    email: str


@dataclass(frozen=True)
class Published:
    """What `publish` left on the branch: its head, and the commit it added (None: nothing to change)."""

    head: str
    commit: str | None


@dataclass(frozen=True)
class Edit:
    """What a change wrote into the work tree (paths relative to it) and the commit message for it."""

    paths: Sequence[str]
    message: str


# Called on a fresh checkout of the branch head; writes the change into the work tree. Raising aborts the
# publish with nothing pushed.
Change = Callable[[Path], Edit]


class Git:
    """The git CLI on one work tree; never prompts, never puts a credential in an error."""

    def __init__(self, work_tree: Path) -> None:
        self.work_tree = work_tree

    def __call__(self, *args: str) -> str:
        return self.raw(*args).decode(errors="replace")

    def raw(self, *args: str) -> bytes:
        done = self.run(*args)
        if done.returncode != 0:
            reason = scrub(done.stderr.decode(errors="replace").strip()) or f"exit {done.returncode}"
            raise GitError(f"git {args[0]}: {reason.splitlines()[-1]}")
        return done.stdout

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        try:
            return subprocess.run(["git", *args], cwd=self.work_tree, env=env, capture_output=True, check=False)
        except FileNotFoundError:
            raise GitError("git is not installed") from None


class CloneLock:
    """Held around every git operation on a clone: re-entrant within a thread, exclusive across threads and
    processes (an `flock` on `<work tree>.lock`), so `serve` processes sharing one clone never race on
    git's index or on a half-checked-out work tree."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def __enter__(self) -> CloneLock:
        self._thread.acquire()
        try:
            if self._depth == 0:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
            self._depth += 1
        except BaseException:
            self._thread.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        self._thread.release()


class RegistryClone:
    """The service's clone of the registry branch. Every git operation holds one `CloneLock`.

    `registry` is the registry directory's path inside the repository (`tenants`), the same relative path
    every stack's `railzway:registryDir` names, so the service's checkout and a workflow's checkout hold
    the same registry at the same commit.
    """

    def __init__(
        self, work_tree: Path, remote: str, branch: str, identity: Identity, registry: str = "tenants"
    ) -> None:
        self.work_tree = work_tree
        self.remote = remote
        self.branch = branch
        self.identity = identity
        self.registry = registry
        self.git = Git(work_tree)
        self.lock = CloneLock(work_tree.with_name(work_tree.name + ".lock"))

    @property
    def registry_dir(self) -> Path:
        return self.work_tree / self.registry

    @property
    def tracking(self) -> str:
        return f"refs/remotes/origin/{self.branch}"

    def ensure(self) -> str:
        """Clone the branch when the work tree is missing, then bring it to the remote's head; the head."""
        with self.lock:
            if not (self.work_tree / ".git").exists():
                self.work_tree.parent.mkdir(parents=True, exist_ok=True)
                Git(self.work_tree.parent)("clone", "--branch", self.branch, "--", self.remote, str(self.work_tree))
                log.info("cloned the registry branch %s into %s", self.branch, self.work_tree)
            else:
                # The remote may have been reconfigured; the URL is set, never logged.
                self.git("remote", "set-url", "origin", self.remote)
            return self.refresh()

    def refresh(self) -> str:
        """Fetch, and make the work tree exactly the remote's branch head (local leftovers are dropped)."""
        with self.lock:
            self.git("fetch", "--quiet", "origin", f"+refs/heads/{self.branch}:{self.tracking}")
            self.git("checkout", "--quiet", "-B", self.branch, self.tracking)
            self.git("reset", "--quiet", "--hard", self.tracking)
            self.git("clean", "--quiet", "-fd", "--", self.registry)
            return self.head()

    def head(self) -> str:
        with self.lock:
            return self.git("rev-parse", "HEAD").strip()

    def publish(self, change: Change, *, attempts: int = PUSH_ATTEMPTS) -> Published:
        """Apply `change` on the remote's latest head, commit it with the message it gives and push it.

        A refused push (someone pushed first) fetches, applies `change` again on the new head and retries,
        up to `attempts` times. A change that alters nothing makes no commit.
        """
        with self.lock:
            for attempt in range(1, attempts + 1):
                self.refresh()
                edit = change(self.work_tree)
                paths, message = list(edit.paths), edit.message
                if not paths or not self.git("status", "--porcelain", "--", *paths).strip():
                    return Published(self.head(), None)
                self.git("add", "--", *paths)
                self.git(
                    "-c",
                    f"user.name={self.identity.name}",
                    "-c",
                    f"user.email={self.identity.email}",
                    "commit",
                    "--quiet",
                    "--no-verify",
                    "-m",
                    message,
                    "--",
                    *paths,
                )
                commit = self.head()
                if self._push():
                    log.info("pushed %s to %s: %s", commit[:12], self.branch, message)
                    return Published(commit, commit)
                log.info(
                    "push of %s refused (attempt %d of %d): fetching and applying again", commit[:12], attempt, attempts
                )
            raise PushRejected(f"git push: the remote refused {attempts} times (others kept pushing to {self.branch})")

    def find_commit(self, needle: str) -> str | None:
        """The newest commit on the branch whose message contains `needle`, or None."""
        with self.lock:
            found = self.git("log", "-F", f"--grep={needle}", "-n", "1", "--format=%H", self.tracking).strip()
            return found or None

    def file_at(self, revision: str, path: str) -> bytes | None:
        """A file's content at `revision` (None when it did not exist there)."""
        with self.lock:
            if self.git.run("cat-file", "-e", f"{revision}:{path}").returncode != 0:
                return None
            return self.git.raw("show", f"{revision}:{path}")

    def extract(self, revision: str, target: Path) -> Path:
        """Write the registry directory as it is at `revision` under `target`; its path there.

        An update reads such a snapshot rather than the live work tree, which other requests' commits
        rewrite meanwhile: what it applies is exactly `revision`.
        """
        with self.lock:
            archive = self.git.raw("archive", "--format=tar", revision, "--", self.registry)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
        return target / self.registry

    def _push(self) -> bool:
        done = self.git.run("push", "--porcelain", "origin", f"HEAD:refs/heads/{self.branch}")
        if done.returncode == 0:
            return True
        text = scrub((done.stdout + done.stderr).decode(errors="replace"))
        if "[rejected]" in text or "non-fast-forward" in text or "fetch first" in text or "[remote rejected]" in text:
            return False
        raise GitError(f"git push: {text.strip().splitlines()[-1] if text.strip() else 'failed'}")


@dataclass(frozen=True)
class Drift:
    """How a stack's recorded revision compares with the branch head."""

    behind: int
    """Commits on the branch after the recorded revision (0: current)."""
    orgs: tuple[int, ...]
    """Tenants whose file changed between the two."""
    catalogues: bool = False
    """Whether tiers.yaml or regions.yaml changed (every tenant may be affected)."""

    def text(self) -> str:
        if not self.behind:
            return "current"
        tenants = ", ".join(map(str, self.orgs)) if self.orgs else "none"
        extra = "; catalogues changed" if self.catalogues else ""
        plural = "" if self.behind == 1 else "s"
        return f"drifted: {self.behind} commit{plural} behind, tenants {tenants} changed{extra}"


def drift(git: Git, revision: str, head: str, registry: str = "tenants") -> Drift:
    """How far `revision` is behind `head` in commits, and which tenants' files changed between them."""
    if revision == head:
        return Drift(0, ())
    behind = int(git("rev-list", "--count", f"{revision}..{head}").strip() or 0)
    names = git("diff", "--name-only", "--no-renames", revision, head, "--", registry).splitlines()
    return Drift(behind, changed_orgs(names, registry), any(_is_catalogue(n, registry) for n in names))


def changed_orgs(paths: Iterable[str], registry: str = "tenants") -> tuple[int, ...]:
    """The org ids of the tenant files among `paths` (repository-relative)."""
    prefix = f"{registry}/{ORGS_DIR}/"
    orgs = set()
    for path in paths:
        if path.startswith(prefix):
            match = _ORG_FILE.match(path[len(prefix) :])
            if match:
                orgs.add(int(match.group(1)))
    return tuple(sorted(orgs))


def _is_catalogue(path: str, registry: str) -> bool:
    return path.startswith(f"{registry}/") and "/" not in path[len(registry) + 1 :]


def is_ancestor(git: Git, revision: str, head: str) -> bool:
    return git.run("merge-base", "--is-ancestor", revision, head).returncode == 0
