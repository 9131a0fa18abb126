"""A throwaway PostgreSQL server in a temporary directory, for tests, benchmarks and `make demo`.

Nothing here assumes a server is already running: `LocalPostgres.start()` runs initdb and pg_ctl from
Debian's `postgresql` package on a free loopback port with password authentication, so tenant logins are
checked exactly as on a real server. PostgreSQL refuses to run as root; when we are root the server runs
as the `postgres` user (`runuser -u postgres --`).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SERVER_GLOB = "/usr/lib/postgresql/*/bin/postgres"


class PostgresUnavailable(RuntimeError):
    """The server binaries are missing or the server would not start."""


def find_bindir() -> Path:
    """The newest installed PostgreSQL server's bin directory."""
    found = sorted(glob.glob(SERVER_GLOB), key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if not found:
        raise PostgresUnavailable(
            "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/postgres): "
            "install Debian's postgresql package (`apt-get install -y postgresql`), as .ci/run does"
        )
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalPostgres:
    """One server: `start()`, use `url(...)`, `stop()` (which also removes its directory)."""

    base_dir: Path | None = None
    port: int = 0
    superuser: str = "postgres"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    max_connections: int = 200
    _root: Path | None = None
    _owned: bool = False

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def root(self) -> Path:
        """The server's directory (data, log, socket)."""
        assert self._root is not None, "server not started"
        return self._root

    @property
    def data_dir(self) -> Path:
        assert self._root is not None, "server not started"
        return self._root / "data"

    def url(self, database: str = "postgres", user: str | None = None, password: str | None = None) -> str:
        """A libpq URL for this server (as the superuser unless `user` is given)."""
        user = user or self.superuser
        secret = self.password if password is None and user == self.superuser else password
        auth = quote(user, safe="") + (f":{quote(secret, safe='')}" if secret else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(database, safe='')}"

    def start(self) -> LocalPostgres:
        bindir = find_bindir()
        self._owned = self.base_dir is None
        self._root = Path(tempfile.mkdtemp(prefix="railzway-pg-")) if self.base_dir is None else self.base_dir
        self._root.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        pwfile = self._root / "pwfile"
        pwfile.write_text(self.password + "\n")
        os.chmod(pwfile, 0o600)
        self._chown(self._root)
        self._chown(pwfile)
        self._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.superuser,
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ]
        )
        pwfile.unlink()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='{self._root}' "
            f"-c max_connections={self.max_connections} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off"
        )
        try:
            self._run(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self._root / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
        except PostgresUnavailable as e:
            log = (
                (self._root / "server.log").read_text(errors="replace")[-2000:]
                if (self._root / "server.log").exists()
                else ""
            )
            raise PostgresUnavailable(f"{e}\n{log}") from None
        return self

    @classmethod
    def existing(cls, base_dir: Path) -> LocalPostgres:
        """A handle on a server started earlier in `base_dir` (by another process), so it can be stopped."""
        server = cls(base_dir=base_dir)
        server._root = base_dir
        return server

    def stop(self) -> None:
        if self._root is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            try:
                self._run([str(find_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"])
            except PostgresUnavailable:
                pass
        if self._owned:
            shutil.rmtree(self._root, ignore_errors=True)
        self._root = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _as_server_user(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, user="postgres", group="postgres")

    def _run(self, argv: list[str]) -> None:
        result = subprocess.run(
            self._as_server_user() + argv, capture_output=True, text=True, cwd=self._root, timeout=120
        )
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{Path(argv[0]).name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
            )
