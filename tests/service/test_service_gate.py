"""The service's gate against real requests on a real socket: the token and the body's size are checked
before the body is read, for a body with a Content-Length and for a chunked one without.

Each test talks raw HTTP/1.1 to `railzway serve` so that it controls what is sent and when: a request
whose body is never sent can only be answered if the service did not wait for that body.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from fake_runner import JOURNAL_ENV
from service_helpers import TOKEN, ServeProcess

from railzway.service.guard import MAX_BODY_BYTES

HUGE = 150 * 1024 * 1024


@pytest.fixture
def serve(
    serve_process: Callable[..., ServeProcess], env: dict[str, str], fresh_cloud_db: str, tmp_path: Path
) -> ServeProcess:
    process = serve_process(
        {
            **env,
            "RAILZWAY_CLOUD_DB_URL": fresh_cloud_db,
            JOURNAL_ENV: str(tmp_path / "journal.jsonl"),
        },
        fake_runner=True,
    )
    process.wait_ready()
    return process


def head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: service", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def exchange(port: int, request: bytes, body: Iterable[bytes] = ()) -> tuple[int, dict[str, str], Any]:
    """Send the request head and what `body` yields (never more), then read one response."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(request)
        for part in body:
            sock.sendall(part)
        received = b""
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)
            assert data, f"the connection closed without a response: {received!r}"
            received += data
        raw_head, _, rest = received.partition(b"\r\n\r\n")
        status_line, *header_lines = raw_head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
        length = int(headers["content-length"])
        while len(rest) < length:
            data = sock.recv(65536)
            assert data, "the connection closed in the middle of the response"
            rest += data
    return int(status_line.split()[1]), headers, json.loads(rest[:length])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}
UNAUTHORIZED = {"detail": "a valid bearer token is required", "field": "Authorization"}
TOO_LARGE = {"detail": f"the request body is over {MAX_BODY_BYTES} bytes", "field": "body"}


def test_an_unauthenticated_huge_body_is_401_without_being_read(serve: ServeProcess) -> None:
    request = head("/v1/orgs/1001/deploy", {**JSON, "Content-Length": str(HUGE)})
    status, headers, body = exchange(serve.port, request, [b"{"])
    assert (status, body) == (401, UNAUTHORIZED)
    assert headers["www-authenticate"] == "Bearer"


def test_an_unauthenticated_chunked_body_is_401_without_being_read(serve: ServeProcess) -> None:
    request = head("/v1/orgs/1001/deploy", {**JSON, "Transfer-Encoding": "chunked"})
    status, _, body = exchange(serve.port, request, [chunk(b'{"version": ')])
    assert (status, body) == (401, UNAUTHORIZED)


def test_malformed_json_without_a_token_is_401(serve: ServeProcess) -> None:
    request = head("/v1/orgs/1001/deploy", {**JSON, "Content-Length": "9"})
    status, _, body = exchange(serve.port, request, [b"{not json"])
    assert (status, body) == (401, UNAUTHORIZED)


def test_a_declared_oversized_body_is_413_without_being_read(serve: ServeProcess) -> None:
    request = head("/v1/orgs/1001/deploy", {**AUTH, **JSON, "Content-Length": str(MAX_BODY_BYTES + 1)})
    status, _, body = exchange(serve.port, request)
    assert (status, body) == (413, TOO_LARGE)


def test_a_chunked_body_is_413_as_soon_as_it_passes_the_cap(serve: ServeProcess) -> None:
    request = head("/v1/orgs/1001/deploy", {**AUTH, **JSON, "Transfer-Encoding": "chunked"})
    # Nine chunks of 1 KiB and no closing chunk: the answer comes once the cap is passed, not at the end.
    status, _, body = exchange(serve.port, request, [chunk(b" " * 1024)] * 9)
    assert (status, body) == (413, TOO_LARGE)


def test_a_chunked_body_under_the_cap_reaches_the_api(serve: ServeProcess) -> None:
    payload = json.dumps({"version": "1.9.0", "tier": "starter"}).encode()
    request = head("/v1/orgs/4242/deploy", {**AUTH, **JSON, "Transfer-Encoding": "chunked"})
    status, _, body = exchange(serve.port, request, [chunk(payload[:10]), chunk(payload[10:]), b"0\r\n\r\n"])
    assert status == 202, body
    assert set(body) == {"request_id"}


def test_streaming_a_huge_unauthenticated_body_does_not_grow_the_service(serve: ServeProcess) -> None:
    before = rss_kib(serve.process.pid)
    request = head("/v1/orgs/1001/deploy", {**JSON, "Content-Length": str(HUGE)})
    block = b"x" * (1024 * 1024)
    sent = 0
    answer: list[bytes] = []

    with socket.create_connection(("127.0.0.1", serve.port), timeout=15) as sock:
        reader = threading.Thread(target=lambda: answer.append(sock.recv(65536)), daemon=True)
        reader.start()
        sock.sendall(request)
        try:
            while sent < HUGE:
                sock.sendall(block)
                sent += len(block)
        except OSError:  # the service answered and closed the connection: the rest is never sent
            pass
        reader.join(timeout=15)
    after = rss_kib(serve.process.pid)
    assert answer and answer[0].startswith(b"HTTP/1.1 401 ")
    assert sent < HUGE
    assert after - before < 20 * 1024, f"serve grew from {before} KiB to {after} KiB"
