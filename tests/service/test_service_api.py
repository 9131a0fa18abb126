"""The HTTP contract against a real Cloud DB: auth, accepted requests, every rejection, idempotency, reads."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from service_helpers import OTHER_TOKEN, TOKEN

from railzway.registry.loader import load_registry, tenant_path
from railzway.service import api
from railzway.service.core import Service
from railzway.service.settings import Settings

NEW_ORG = 4242


def request_rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT org_id, action, state FROM railzway_requests ORDER BY created_at").fetchall()


def job_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM procrastinate_jobs").fetchone()
    assert row is not None
    return int(row[0])


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


# --- authentication -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0000000000000"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "unknown", "not-bearer", "longer", "empty"],
)
def test_v1_without_a_valid_token_is_401_and_changes_nothing(
    client: TestClient, headers: dict[str, str], cloud_db: str, registry_dir: Path
) -> None:
    before = snapshot(registry_dir)
    response = client.post(f"/v1/orgs/{NEW_ORG}/deploy", json={"version": "1.9.0", "tier": "starter"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["field"] == "Authorization"
    assert snapshot(registry_dir) == before
    assert request_rows(cloud_db) == []


@pytest.mark.parametrize("path", ["/v1/orgs/1001", "/v1/requests/00000000-0000-0000-0000-000000000000"])
def test_reads_need_a_token_too(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401


def test_auth_is_checked_before_the_body(client: TestClient) -> None:
    response = client.post("/v1/orgs/not-a-number/deploy", json={"tier": 5})
    assert response.status_code == 401


def test_malformed_json_without_a_token_is_401_not_422(client: TestClient) -> None:
    response = client.post("/v1/orgs/1001/deploy", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.json() == {"detail": "a valid bearer token is required", "field": "Authorization"}


def test_a_body_over_the_cap_is_413_even_with_a_token(client: TestClient, auth: dict[str, str], cloud_db: str) -> None:
    body = {"version": "1.9.0", "tier": "starter", "region": "x" * 9000}
    response = client.post(f"/v1/orgs/{NEW_ORG}/deploy", json=body, headers=auth)
    assert response.status_code == 413
    assert response.json() == {"detail": "the request body is over 8192 bytes", "field": "body"}
    assert request_rows(cloud_db) == []


def test_every_bad_field_is_named_in_one_answer(
    client: TestClient, auth: dict[str, str], cloud_db: str, registry_dir: Path
) -> None:
    before = snapshot(registry_dir)
    response = client.post(f"/v1/orgs/{NEW_ORG}/deploy", json={"version": "latest", "tier": "gold"}, headers=auth)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["tier", "version"]
    assert response.json()["field"] == "tier"
    assert "tier: unknown tier 'gold'" in response.json()["detail"]
    assert "version: 'latest' is not pinned" in response.json()["detail"]
    assert snapshot(registry_dir) == before
    assert request_rows(cloud_db) == []


def test_every_mistyped_field_is_named_in_one_answer(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(f"/v1/orgs/{NEW_ORG}/deploy", json={"version": 5, "tier": 6, "colour": "red"}, headers=auth)
    assert response.status_code == 422
    assert sorted(e["field"] for e in response.json()["errors"]) == ["colour", "tier", "version"]


def test_every_configured_token_is_accepted(client: TestClient) -> None:
    for token in (TOKEN, OTHER_TOKEN):
        response = client.get("/v1/orgs/1001", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, token


def test_token_check_compares_every_token_at_equal_length(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[int, int]] = []
    original = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return original(a, b)

    monkeypatch.setattr(api.hmac, "compare_digest", recording)
    digests = [
        api.hashlib.sha256(t.encode()).digest() for t in ("first-token-aaaaaaaaaa", "second-token-bbbbbbbbbbbbbbbbbbbb")
    ]
    # A match on the first token must not skip the second (no early exit), and a short guess is compared
    # at full length like any other.
    assert api.token_matches("first-token-aaaaaaaaaa", digests)
    assert not api.token_matches("x", digests)
    assert compared == [(32, 32)] * 4


def test_healthz_needs_no_token(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_is_503_when_the_cloud_db_does_not_answer(env: dict[str, str], fake: Any) -> None:
    from devkit.localpg import free_port

    settings = Settings.from_env(
        {**env, "RAILZWAY_CLOUD_DB_URL": f"postgresql://nobody:pw@127.0.0.1:{free_port()}/none"}
    )
    with TestClient(api.create_app(Service(settings, runner=lambda registry: fake))) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_openapi_document_lists_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for action in ("deploy", "stop", "start", "terminate", "rotate-password", "downgrade"):
        assert "post" in paths[f"/v1/orgs/{{org_id}}/{action}"], action
    assert "get" in paths["/v1/requests/{request_id}"]
    assert "get" in paths["/v1/orgs/{org_id}"]
    assert "get" in paths["/healthz"]


# --- accepted requests ------------------------------------------------------------------------------------


def test_deploy_of_a_new_org_writes_its_file_and_queues_one_request(
    client: TestClient, auth: dict[str, str], cloud_db: str, registry_dir: Path
) -> None:
    response = client.post(f"/v1/orgs/{NEW_ORG}/deploy", json={"version": "1.9.0", "tier": "starter"}, headers=auth)
    assert response.status_code == 202
    request_id = response.json()["request_id"]
    assert response.json() == {"request_id": request_id}
    assert response.headers["Location"] == f"/v1/requests/{request_id}"
    tenant = load_registry(registry_dir).tenants[NEW_ORG]
    # No region given: the registry's default; shard: the least loaded of eu-west (0 holds 3 tenants, 1 holds 2).
    assert (tenant.tier, tenant.version, tenant.region, tenant.status) == ("starter", "1.9.0", "eu-west", "running")
    assert tenant.shard == 1
    assert request_rows(cloud_db) == [(NEW_ORG, "deploy", "queued")]
    assert job_count(cloud_db) == 1
    shown = client.get(f"/v1/requests/{request_id}", headers=auth).json()
    assert shown["state"] == "queued"
    assert shown["stack"] == "test-eu-west-01"
    assert shown["summary"]["created"] is True
    assert shown["summary"]["changes"]["version"] == {"from": None, "to": "1.9.0"}
    assert [e["state"] for e in shown["events"]] == ["queued"]


@pytest.mark.parametrize(
    ("action", "body", "field", "value"),
    [
        ("stop", None, "status", "stopped"),
        ("terminate", None, "status", "terminated"),
        ("deploy", {"version": "1.9.1", "tier": "starter"}, "version", "1.9.1"),
        ("downgrade", {"tier": "starter", "at": "2999-01-01"}, "downgrade", {"tier": "starter", "at": "2999-01-01"}),
    ],
)
def test_each_action_changes_the_tenant_file(
    client: TestClient,
    auth: dict[str, str],
    registry_dir: Path,
    action: str,
    body: dict[str, str] | None,
    field: str,
    value: object,
) -> None:
    response = client.post(f"/v1/orgs/1001/{action}", json=body, headers=auth)
    assert response.status_code == 202, response.json()
    tenant = load_registry(registry_dir).tenants[1001]
    assert tenant.model_dump(mode="json")[field] == value


def test_start_runs_a_stopped_tenant(client: TestClient, auth: dict[str, str], registry_dir: Path) -> None:
    assert client.post("/v1/orgs/1003/stop", headers=auth).status_code == 202
    assert client.post("/v1/orgs/1003/start", headers=auth).status_code == 202
    assert load_registry(registry_dir).tenants[1003].status == "running"


def test_rotate_password_bumps_the_rotation(client: TestClient, auth: dict[str, str], registry_dir: Path) -> None:
    before = load_registry(registry_dir).tenants[1002].password_rotation
    request_id = client.post("/v1/orgs/1002/rotate-password", headers=auth).json()["request_id"]
    after = load_registry(registry_dir).tenants[1002].password_rotation
    assert after != before
    assert after == request_id


def test_region_may_be_left_out_only_when_the_registry_names_a_default(
    client: TestClient, auth: dict[str, str], registry_dir: Path
) -> None:
    regions = registry_dir / "regions.yaml"
    regions.write_text(regions.read_text().replace("default: eu-west\n", ""))
    response = client.post(f"/v1/orgs/{NEW_ORG}/deploy", json={"version": "1.9.0", "tier": "starter"}, headers=auth)
    assert response.status_code == 422
    assert response.json()["field"] == "region"
    assert not tenant_path(registry_dir, NEW_ORG).exists()
    response = client.post(
        f"/v1/orgs/{NEW_ORG}/deploy", json={"version": "1.9.0", "tier": "starter", "region": "us-east"}, headers=auth
    )
    assert response.status_code == 202
    assert load_registry(registry_dir).tenants[NEW_ORG].region == "us-east"


# --- rejections: status, the field named, nothing changed --------------------------------------------------

REJECTIONS = [
    ("post", "/v1/orgs/abc/deploy", {"version": "1.9.0", "tier": "starter"}, 400, "org_id"),
    ("post", "/v1/orgs/0/deploy", {"version": "1.9.0", "tier": "starter"}, 400, "org_id"),
    ("post", "/v1/orgs/-5/deploy", {"version": "1.9.0", "tier": "starter"}, 400, "org_id"),
    ("post", "/v1/orgs/0042/deploy", {"version": "1.9.0", "tier": "starter"}, 400, "org_id"),
    ("post", "/v1/orgs/99999999999999999999/deploy", {"version": "1.9.0", "tier": "starter"}, 400, "org_id"),
    ("post", "/v1/orgs/4242/deploy", {"version": "1.9.0", "tier": "platinum"}, 422, "tier"),
    ("post", "/v1/orgs/4242/deploy", {"version": "1.9.0", "tier": "starter", "region": "mars"}, 422, "region"),
    ("post", "/v1/orgs/4242/deploy", {"version": "latest", "tier": "starter"}, 422, "version"),
    ("post", "/v1/orgs/4242/deploy", {"version": "1.9 beta", "tier": "starter"}, 422, "version"),
    ("post", "/v1/orgs/4242/deploy", {"version": 190, "tier": "starter"}, 422, "version"),
    ("post", "/v1/orgs/4242/deploy", {"tier": "starter"}, 422, "version"),
    ("post", "/v1/orgs/4242/deploy", {"version": "1.9.0", "tier": "starter", "colour": "red"}, 422, "colour"),
    ("post", "/v1/orgs/1001/deploy", {"version": "1.9.0", "tier": "growth", "region": "us-east"}, 422, "region"),
    ("post", "/v1/orgs/4242/stop", None, 404, "org_id"),
    ("post", "/v1/orgs/4242/rotate-password", None, 404, "org_id"),
    ("post", "/v1/orgs/1001/downgrade", {"tier": "nope", "at": "2999-01-01"}, 422, "tier"),
    ("post", "/v1/orgs/1001/downgrade", {"tier": "growth", "at": "2999-01-01"}, 422, "tier"),
    ("post", "/v1/orgs/1001/downgrade", {"tier": "starter", "at": "2000-01-01"}, 422, "at"),
    ("post", "/v1/orgs/1001/downgrade", {"tier": "starter", "at": "next tuesday"}, 422, "at"),
    ("post", "/v1/orgs/1001/stop", {"now": True}, 422, "now"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), REJECTIONS)
def test_bad_input_is_rejected_naming_the_field_and_changes_nothing(
    client: TestClient,
    auth: dict[str, str],
    cloud_db: str,
    registry_dir: Path,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    field: str,
) -> None:
    before = snapshot(registry_dir)
    response = client.request(method, path, json=body, headers=auth)
    assert response.status_code == status, response.json()
    assert response.json()["field"] == field
    assert response.json()["detail"].startswith(f"{field}: ")
    assert snapshot(registry_dir) == before
    assert request_rows(cloud_db) == []
    assert job_count(cloud_db) == 0


def test_a_terminated_org_is_not_changed_again(
    client: TestClient, auth: dict[str, str], cloud_db: str, registry_dir: Path
) -> None:
    assert client.post("/v1/orgs/1005/terminate", headers=auth).status_code == 202
    before = snapshot(registry_dir)
    response = client.post("/v1/orgs/1005/start", headers=auth)
    assert response.status_code == 409
    assert response.json()["field"] == "org_id"
    assert snapshot(registry_dir) == before
    assert [row[1] for row in request_rows(cloud_db)] == ["terminate"]


def test_an_invalid_registry_is_503_naming_the_file_and_changes_nothing(
    client: TestClient, auth: dict[str, str], cloud_db: str, registry_dir: Path
) -> None:
    tiers = registry_dir / "tiers.yaml"
    tiers.write_text(tiers.read_text().replace("connection_limit: 10", "connection_limit: lots"))
    before = snapshot(registry_dir)
    response = client.post(f"/v1/orgs/{NEW_ORG}/deploy", json={"version": "1.9.0", "tier": "starter"}, headers=auth)
    assert response.status_code == 503
    assert f"{tiers}:" in response.json()["detail"]
    assert "connection_limit" in response.json()["detail"]
    assert snapshot(registry_dir) == before
    assert request_rows(cloud_db) == []


@pytest.fixture
def commit_fails(cloud_db: str) -> Iterator[None]:
    """A deferred constraint trigger: every request's INSERT succeeds, and its COMMIT then fails."""
    with psycopg.connect(cloud_db, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the commit fails (test)'; END $$"
        )
        conn.execute(
            "CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON railzway_requests "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()"
        )
    try:
        yield
    finally:
        with psycopg.connect(cloud_db, autocommit=True) as conn:
            conn.execute("DROP TRIGGER refuse_commit ON railzway_requests")
            conn.execute("DROP FUNCTION refuse_commit()")


@pytest.mark.usefixtures("commit_fails")
@pytest.mark.parametrize(
    ("path", "body"),
    [(f"/v1/orgs/{NEW_ORG}/deploy", {"version": "1.9.0", "tier": "starter"}), ("/v1/orgs/1001/stop", None)],
    ids=["new-tenant", "existing-tenant"],
)
def test_when_the_commit_fails_the_tenant_file_is_put_back(
    client: TestClient, auth: dict[str, str], cloud_db: str, registry_dir: Path, path: str, body: dict[str, str] | None
) -> None:
    before = snapshot(registry_dir)
    response = client.post(path, json=body, headers=auth)
    assert response.status_code == 503
    assert (
        response.json()["detail"] == "the request could not be recorded (the Cloud DB did not answer); nothing changed"
    )
    assert snapshot(registry_dir) == before
    assert request_rows(cloud_db) == []
    assert job_count(cloud_db) == 0


def test_a_body_that_is_not_json_is_422(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/v1/orgs/1001/deploy", content=b"{not json", headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["field"] == "body"


# --- idempotency ----------------------------------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_returns_the_same_request(
    client: TestClient, auth: dict[str, str], cloud_db: str
) -> None:
    headers = {**auth, "Idempotency-Key": "signup-4242-attempt"}
    body = {"version": "1.9.0", "tier": "starter"}
    first = client.post(f"/v1/orgs/{NEW_ORG}/deploy", json=body, headers=headers)
    second = client.post(f"/v1/orgs/{NEW_ORG}/deploy", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["request_id"] == second.json()["request_id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert request_rows(cloud_db) == [(NEW_ORG, "deploy", "queued")]


def test_an_idempotency_key_reused_for_another_request_is_422(
    client: TestClient, auth: dict[str, str], cloud_db: str, registry_dir: Path
) -> None:
    headers = {**auth, "Idempotency-Key": "k-1"}
    assert client.post("/v1/orgs/1001/stop", headers=headers).status_code == 202
    before = snapshot(registry_dir)
    response = client.post("/v1/orgs/1002/stop", headers=headers)
    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"
    assert snapshot(registry_dir) == before
    assert len(request_rows(cloud_db)) == 1


def test_without_a_key_each_call_is_a_new_request(client: TestClient, auth: dict[str, str], cloud_db: str) -> None:
    ids = {client.post("/v1/orgs/1001/stop", headers=auth).json()["request_id"] for _ in range(2)}
    assert len(ids) == 2
    assert len(request_rows(cloud_db)) == 2


def test_a_malformed_idempotency_key_is_422(client: TestClient, auth: dict[str, str], cloud_db: str) -> None:
    response = client.post("/v1/orgs/1001/stop", headers={**auth, "Idempotency-Key": "x" * 300})
    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"
    assert request_rows(cloud_db) == []


# --- reads ----------------------------------------------------------------------------------------------------


def test_an_unknown_request_is_404(client: TestClient, auth: dict[str, str]) -> None:
    for request_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        response = client.get(f"/v1/requests/{request_id}", headers=auth)
        assert response.status_code == 404
        assert response.json()["field"] == "request_id"


def test_an_unknown_org_is_404(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get(f"/v1/orgs/{NEW_ORG}", headers=auth)
    assert response.status_code == 404
    assert response.json()["field"] == "org_id"


def test_org_view_shows_desired_synced_and_requests_but_never_a_password(
    client: TestClient, auth: dict[str, str], cloud_db: str, settings: Settings
) -> None:
    with psycopg.connect(cloud_db) as conn:
        sealed = settings.keys.seal(1001, "a-secret-tenant-password-0000000000")
        conn.execute(
            "INSERT INTO instances (org_id, status, tier, current_version, db_user, db_password, "
            "db_password_key_id, db_password_fingerprint) VALUES (1001, 'running', 'growth', '1.8.2', "
            "'railzway_user_1001', %s, %s, %s)",
            (sealed.ciphertext, sealed.key_id, sealed.fingerprint),
        )
    request_id = client.post("/v1/orgs/1001/stop", headers=auth).json()["request_id"]
    response = client.get("/v1/orgs/1001", headers=auth)
    assert response.status_code == 200
    shown = response.json()
    assert shown["desired"]["status"] == "stopped"
    assert shown["synced"]["status"] == "running"
    assert shown["synced"]["password_set"] is True
    assert [r["request_id"] for r in shown["requests"]] == [request_id]
    text = response.text
    assert "db_password" not in text
    assert sealed.ciphertext not in text
    assert sealed.fingerprint not in text
    assert "a-secret-tenant-password" not in text


def test_the_test_client_runs_on_httpx2_without_a_deprecation_warning() -> None:
    # starlette's TestClient warns when it has to fall back to httpx; requirements.txt pins httpx2 for it.
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import fastapi.testclient"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
