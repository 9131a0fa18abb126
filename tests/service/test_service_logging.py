"""Logs: one JSON object per line with the request id, and never a secret, from a real `serve` process."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import psycopg
import pytest
from fake_runner import password_of
from service_helpers import TOKEN, ServeProcess, json_lines

from railzway.registry.loader import load_registry
from railzway.service.logs import REDACTED, JsonFormatter, Scrubber, for_requests

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(Scrubber(["configured-secret-value"])))
    logger = logging.getLogger("railzway.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_a_line_is_one_json_object_with_the_request_id(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    with for_requests(["r-1"]):
        logger.info("updating %s", "stack-a", extra={"stack": "stack-a"})
    with for_requests(["r-1", "r-2"]):
        logger.info("batch")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["message"], first["request_id"], first["stack"], first["level"]) == (
        "updating stack-a",
        "r-1",
        "stack-a",
        "info",
    )
    assert second["request_ids"] == ["r-1", "r-2"]


def test_configured_secrets_and_url_passwords_are_scrubbed(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.info("token configured-secret-value and postgresql://admin:hunter2-pw@db:5432/cloud")
    try:
        raise RuntimeError("connect to postgres://u:inner-secret@h/d failed with configured-secret-value")
    except RuntimeError:
        logger.exception("failed")
    text = stream.getvalue()
    assert "configured-secret-value" not in text
    assert "hunter2-pw" not in text
    assert "inner-secret" not in text
    assert f"postgresql://admin:{REDACTED}@db:5432/cloud" in json.loads(text.splitlines()[0])["message"]
    assert "RuntimeError" in json.loads(text.splitlines()[1])["exception"]


def test_a_serve_process_logs_json_with_request_ids_and_no_secret(
    env: dict[str, str],
    fresh_cloud_db: str,
    registry_dir: Path,
    serve_process: Callable[..., ServeProcess],
) -> None:
    process_env = {**env, "RAILZWAY_CLOUD_DB_URL": fresh_cloud_db}
    serve = serve_process(process_env, fake_runner=True)
    serve.wait_ready()
    ids: list[str] = []
    passwords: set[str] = set()
    for path, body in (
        ("/v1/orgs/7001/deploy", {"version": "1.9.0", "tier": "growth"}),
        ("/v1/orgs/7001/rotate-password", None),
    ):
        response = httpx.post(f"{serve.base_url}{path}", json=body, headers=AUTH, timeout=10)
        assert response.status_code == 202
        ids.append(response.json()["request_id"])
        wait_succeeded(serve, ids[-1])
        passwords.add(password_of(load_registry(registry_dir).tenants[7001]))
    wrong_token = "wrong-token-that-someone-guessed-0000"
    assert (
        httpx.get(f"{serve.base_url}/v1/orgs/7001", headers={"Authorization": f"Bearer {wrong_token}"}).status_code
        == 401
    )
    serve.process.terminate()
    assert serve.process.wait(timeout=30) == 0

    lines = json_lines(serve.log_path)  # every line parses: json_lines fails on anything else
    text = serve.log_path.read_text()
    with psycopg.connect(fresh_cloud_db) as conn:
        row = conn.execute("SELECT db_password, db_password_fingerprint FROM instances WHERE org_id = 7001").fetchone()
    assert row is not None
    secrets = {
        "api token": TOKEN,
        "other api token": env["RAILZWAY_API_TOKENS"].split(",")[1],
        "credentials key": env["RAILZWAY_CREDENTIALS_KEYS"],
        "config passphrase": env["PULUMI_CONFIG_PASSPHRASE"],
        "cloud db password": unquote(urlsplit(fresh_cloud_db).password or ""),
        "stored ciphertext": row[0],
        "password fingerprint": row[1],
        "guessed token": wrong_token,
        **{f"tenant password {i}": p for i, p in enumerate(sorted(passwords))},
    }
    assert len(passwords) == 2  # the password before and after the rotation
    for what, secret in secrets.items():
        assert secret and secret not in text, f"the {what} is in the log"
    for request_id in ids:
        tagged = [line["message"] for line in lines if line.get("request_id") == request_id]
        assert any(m.startswith("accepted ") for m in tagged), request_id
        assert any(m.startswith("updating stack ") for m in tagged), request_id
        assert any(" 1 succeeded" in m for m in tagged), request_id


def wait_succeeded(serve: ServeProcess, request_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = httpx.get(f"{serve.base_url}/v1/requests/{request_id}", headers=AUTH, timeout=10).json()["state"]
        if state == "succeeded":
            return
        assert state in ("queued", "running"), state
        time.sleep(0.1)
    raise AssertionError(f"request {request_id} did not succeed within {timeout} s")
