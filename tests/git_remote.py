"""A real git remote for tests: a bare repository on disk seeded with a registry, and clones of it.

`RegistryRemote.pr_commit` plays a pull request merged on the branch by someone else (a second clone that
commits and pushes), so tests can race it against the service.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

BRANCH = "main"


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` with a test identity (commits need one; the machine may have none); its stdout."""
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


class RegistryRemote:
    """`root/remote.git` (bare) whose `main` holds `tenants/` copied from `registry`; `root/pr` is a second clone."""

    def __init__(self, root: Path, registry: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.url = str(root / "remote.git")
        git(root, "init", "--quiet", "--bare", "--initial-branch", BRANCH, self.url)
        self.pr = root / "pr"
        git(root, "clone", "--quiet", self.url, str(self.pr))
        git(self.pr, "checkout", "--quiet", "-B", BRANCH)
        shutil.copytree(registry, self.pr / "tenants")
        self.pr_commit("seed the registry")

    def pr_commit(self, message: str, files: dict[str, str] | None = None) -> str:
        """Commit `files` (path -> text, relative to the clone) on top of the remote's head and push; the commit."""
        git(self.pr, "fetch", "--quiet", "origin")
        if git(self.pr, "ls-remote", "origin", BRANCH):
            git(self.pr, "reset", "--quiet", "--hard", f"origin/{BRANCH}")
        for path, text in (files or {}).items():
            target = self.pr / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(self.pr, "add", "--all")
        git(
            self.pr,
            "-c",
            "user.name=Reviewer",
            "-c",
            "user.email=reviewer@example.com",
            "commit",
            "--quiet",
            "-m",
            message,
        )
        git(self.pr, "push", "--quiet", "origin", f"HEAD:{BRANCH}")
        return git(self.pr, "rev-parse", "HEAD")

    def head(self) -> str:
        return git(self.root, "--git-dir", self.url, "rev-parse", BRANCH)

    def log(self, count: int = 20) -> list[str]:
        """Subjects of the branch's newest commits, newest first."""
        return git(self.root, "--git-dir", self.url, "log", f"-{count}", "--format=%s", BRANCH).splitlines()

    def show(self, path: str, revision: str = BRANCH) -> str:
        return git(self.root, "--git-dir", self.url, "show", f"{revision}:{path}")

    def author(self, revision: str = BRANCH) -> str:
        return git(self.root, "--git-dir", self.url, "log", "-1", "--format=%an <%ae>", revision)
