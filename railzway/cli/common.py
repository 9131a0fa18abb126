"""What every command shares: the error type that becomes an exit status, and stderr output."""

from __future__ import annotations

import sys
from dataclasses import dataclass


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
