"""The API's outer gate: the bearer token, then the body's declared size, before anything reads the body.

FastAPI reads and parses a body before its dependencies run, so a token check written as a dependency
comes too late: an unauthenticated caller could make the service hold a body of any size in memory, and
malformed JSON without a token was answered 422 (which tells a stranger the endpoint parses input)
instead of 401. This ASGI middleware runs first and looks at the headers only: for `/v1` it answers 401
without a valid token, and it answers 413 when `Content-Length` says the body is over the cap. A body
without a `Content-Length` (chunked) is counted as it is read by starlette's `RequestBodyLimitMiddleware`,
inside this one (see `api.create_app`), which stops at the first chunk past the cap.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_BODY_BYTES = 8 * 1024
"""The largest body accepted: every API body is a few short fields, far below this."""
PROTECTED_PREFIX = "/v1"


class AuthAndBodyLimit:
    """Refuse `/v1` without a valid token (401), and a declared body over `max_body` bytes (413), unread."""

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
        if declared is not None and (not declared.isascii() or not declared.isdigit()):
            await _error(send, 400, "Content-Length is not a number of bytes", "Content-Length")
            return
        if declared is not None and int(declared) > self.max_body:
            await _error(send, 413, too_large(self.max_body), "body")
            return
        await self.app(scope, receive, send)

    def _authorized(self, headers: Headers) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(token) and self.token_valid(token)


def too_large(max_body: int) -> str:
    return f"the request body is over {max_body} bytes"


async def _error(send: Send, status: int, detail: str, field: str, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps({"detail": detail, "field": field}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    # The body was not read: the connection cannot carry another request, so say it closes.
    raw.append((b"connection", b"close"))
    raw += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
