"""The one failure the audit and the report share: they could not look at the server at all."""

from __future__ import annotations


class CannotRun(Exception):
    """The check itself could not run (server unreachable, bad input); distinct from a check that failed.

    The message is meant for the operator as it is: it names what to fix and never carries a secret.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
