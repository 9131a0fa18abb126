"""Logging for the service: one JSON object per line, carrying the request id, never a secret.

Every log record of the process (ours, uvicorn's, procrastinate's) goes through one handler on the root
logger. The request id comes from a context variable that the API and the worker set while they handle a
request, so a line logged deep inside a library still says which request it belongs to.

Secrets are kept out by construction (passwords travel as `SecretStr`, nothing logs a header or an
environment value), and scrubbed as a second line of defence: every configured secret value is replaced
in the finished line, and so is the password of any `scheme://user:password@` URL.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

REDACTED = "[redacted]"

request_ids: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("railzway_request_ids", default=())

_URL_PASSWORD_RE = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)(?P<password>[^@/\s]+)(?=@)")
# Attributes every LogRecord has; anything else came in through `extra=` and is worth keeping.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
# Keys of procrastinate's `extra` that repeat what the message says or hold task arguments verbatim.
_DROPPED_EXTRA = frozenset({"color_message"})


@contextmanager
def for_requests(ids: Iterable[str]) -> Iterator[None]:
    """Tag every line logged inside the block with these request ids."""
    token = request_ids.set(tuple(ids))
    try:
        yield
    finally:
        request_ids.reset(token)


class Scrubber:
    """Replaces known secret values, and URL passwords, in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _URL_PASSWORD_RE.sub(lambda m: m["head"] + REDACTED, text)


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id"|"request_ids", ...extra}` on one line."""

    def __init__(self, scrub: Scrubber) -> None:
        super().__init__()
        self._scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        ids = getattr(record, "request_ids", None) or request_ids.get()
        if isinstance(ids, str):
            ids = (ids,)
        if len(ids) == 1:
            entry["request_id"] = ids[0]
        elif ids:
            entry["request_ids"] = list(ids)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in _DROPPED_EXTRA and key not in entry and key != "request_ids":
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The type and the frames, for the operator; the exception's own text can carry anything (a SQL
            # statement with values, a URL), so it is scrubbed with the rest of the line.
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        line = json.dumps(entry, default=str, ensure_ascii=False, separators=(",", ":"))
        return self._scrub(line)


def configure(secrets: Iterable[str] = (), stream: TextIO | None = None, level: int = logging.INFO) -> logging.Handler:
    """Route every logger of the process to one JSON-lines handler on `stream` (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(Scrubber(secrets)))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "procrastinate"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # procrastinate logs each job's start and end at INFO, the maintenance ticks included (several a
    # minute); our own lines say what each update did, so only its warnings and errors are kept.
    logging.getLogger("procrastinate").setLevel(max(level, logging.WARNING))
    return handler
