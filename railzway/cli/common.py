"""What every command shares: the error type that becomes an exit status, stderr output, the registry."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import typer

from railzway.registry.loader import RegistryError, load_registry
from railzway.registry.model import Registry

REGISTRY_OPTION = typer.Option(Path("tenants"), "--registry", metavar="DIR", help="The registry directory.")
ADMIN_URL_OPTION = typer.Option(
    ...,
    "--admin-url",
    metavar="URL",
    help="libpq URL of the server's admin role; leave the password out and set PGPASSWORD instead.",
)


@dataclass
class _State:
    debug: bool = False


state = _State()


class CommandError(Exception):
    """A failure the operator can act on: printed as one line on stderr, exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def console_err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def registry_or_fail(registry_dir: Path, *, unplaced_ok: bool = False) -> Registry:
    """The registry, or every problem on stderr and a CommandError pointing at `railzway validate`."""
    try:
        return load_registry(registry_dir, unplaced_ok=unplaced_ok)
    except RegistryError as e:
        for problem in e.problems:
            console_err(problem.text())
        raise CommandError(f"{registry_dir}: invalid registry (run `railzway validate`)", 1) from None
