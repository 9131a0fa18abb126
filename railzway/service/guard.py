"""The API's outer gate: the bearer token, then the body's size, before anything reads or parses the body.

FastAPI reads and parses a body before its dependencies run, so a token check written as a dependency
comes too late: an unauthenticated caller could make the service hold a body of any size in memory, and
malformed JSON without a token was answered 422 (which tells a stranger the endpoint parses input)
instead of 401. This ASGI middleware runs first. For `/v1` it answers 401 from the headers alone, never
reading the body; for every request it answers 413 when `Content-Length` says the body is over the cap,
and otherwise reads the body itself, chunk by chunk (a chunked body has no `Content-Length`), stopping
with 413 as soon as the cap is passed. The application then receives the body from memory, at most
`max_body` bytes of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 8 * 1024
"""The largest body accepted: every API body is a few short fields, far below this."""
PROTECTED_PREFIX = "/v1"


class AuthAndBodyLimit:
    """Refuse `/v1` without a valid token (401), and any body over `max_body` bytes (413), unread."""

    def __init__(self, app: ASGIApp, *, token_valid: Callable[[str], bool], max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.token_valid = token_valid
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path: str = scope["path"]
        if (path == PROTECTED_PREFIX or path.startswith(PROTECTED_PREFIX + "/")) and not self._authorized(headers):
            await _error(send, 401, "a valid bearer token is required", "Authorization", {"WWW-Authenticate": "Bearer"})
            return
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isascii() or not declared.isdigit():
                await _error(send, 400, "Content-Length is not a number of bytes", "Content-Length")
                return
            if int(declared) > self.max_body:
                await self._too_large(send)
                return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await self._too_large(send)
                return
            more = message.get("more_body", False)
        await self.app(scope, _replay(bytes(body), receive), send)

    def _authorized(self, headers: Headers) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(token) and self.token_valid(token)

    async def _too_large(self, send: Send) -> None:
        await _error(send, 413, f"the request body is over {self.max_body} bytes", "body")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the application the body read already, then the connection's own events."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _error(send: Send, status: int, detail: str, field: str, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps({"detail": detail, "field": field}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    # The body was not read: the connection cannot carry another request, so say it closes.
    raw.append((b"connection", b"close"))
    raw += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
