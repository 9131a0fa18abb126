"""End to end: a tenant deployed through the HTTP API by the real Pulumi engine, found in the Cloud DB.

`railzway serve` runs as a process with the real runner against a stack in a `file://`
backend in a temporary directory, configured to create databases on the session's PostgreSQL (no Nomad).
The registry starts with the catalogues only, so the stack holds just the tenant the test signs up; its
org id is in a high range because roles are cluster-wide and other modules share the server.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from service_helpers import PROJECT, TOKEN, ServeProcess

from devkit.localpg import LocalPostgres
from railzway import clouddb
from railzway.clouddb import parse_keys
from railzway.registry import naming
from tests.e2e_support import drop_tenants, local_stack_config, remove_test_stack

pytestmark = [
    pytest.mark.e2e,
]

log = logging.getLogger(__name__)
ORG = 980_701
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def stack(postgres: LocalPostgres, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A configured, empty stack and a catalogue-only registry; destroyed and removed afterwards."""
    from pulumi import automation as auto

    # Not tmp_path / "tenants": that is the `registry_dir` fixture's full copy of the shipped registry (the
    # `env` fixture makes it), so creating `orgs` there failed with FileExistsError, and reusing it would
    # declare the eight shipped tenants in this stack too. The stack's registry holds the catalogues only.
    registry = tmp_path / "catalogue-only" / "tenants"
    (registry / "orgs").mkdir(parents=True, exist_ok=True)
    for name in ("tiers.yaml", "regions.yaml"):
        shutil.copy(PROJECT / "tenants" / name, registry / name)
    (tmp_path / "backend").mkdir()
    name = f"svc-e2e-{secrets.token_hex(3)}"
    env = {
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    drop_tenants(postgres, [ORG])
    selected = auto.create_or_select_stack(
        stack_name=name, work_dir=str(PROJECT), opts=auto.LocalWorkspaceOptions(env_vars=env)
    )
    try:
        config = local_stack_config(postgres, registry)
        selected.set_all_config(config, path=True)
        yield {**env, "RAILZWAY_STACK": name, "RAILZWAY_REGISTRY_DIR": str(registry)}
    finally:
        try:
            remove_test_stack(selected)
        finally:
            drop_tenants(postgres, [ORG])


def test_a_tenant_deployed_through_the_api_is_in_the_cloud_db(
    env: dict[str, str],
    fresh_cloud_db: str,
    stack: dict[str, str],
    postgres: LocalPostgres,
    serve_process: Callable[..., ServeProcess],
) -> None:
    serve = serve_process({**env, "RAILZWAY_CLOUD_DB_URL": fresh_cloud_db, **stack}, name="e2e")
    serve.wait_ready()
    response = httpx.post(
        f"{serve.base_url}/v1/orgs/{ORG}/deploy", json={"version": "1.9.0", "tier": "starter"}, headers=AUTH
    )
    assert response.status_code == 202, response.text
    result = wait_final(serve, response.json()["request_id"], timeout=600)
    assert result["state"] == "succeeded", result["reason"]
    assert result["summary"]["update"]["create"] > 0
    # The serve process's Cloud DB settings reach the program, so the `up`'s own hooks wrote the row; the
    # service's sync after the `up` found it current.
    assert result["summary"]["sync"] == {"inserted": 0, "updated": 0, "unchanged": 1}

    with psycopg.connect(fresh_cloud_db) as conn:
        row = conn.execute(
            "SELECT db_name, db_user, status, tier, current_version, source_stack FROM instances WHERE org_id = %s",
            (ORG,),
        ).fetchone()
        login = clouddb.credentials(conn, parse_keys(env["RAILZWAY_CREDENTIALS_KEYS"]), [ORG])[ORG]
    assert row == (
        naming.database_name(ORG),
        naming.role_name(ORG),
        "running",
        "starter",
        "1.9.0",
        stack["RAILZWAY_STACK"],
    )
    # The stored password is the real one: the tenant logs in to its own database with it.
    with psycopg.connect(postgres.url(login.db_name, login.user, login.password)) as tenant:
        assert tenant.execute("SELECT current_user, current_database()").fetchone() == (login.user, login.db_name)

    shown = httpx.get(f"{serve.base_url}/v1/orgs/{ORG}", headers=AUTH).json()
    assert shown["synced"]["password_set"] is True
    assert login.password not in str(shown)


def wait_final(serve: ServeProcess, request_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = httpx.get(f"{serve.base_url}/v1/requests/{request_id}", headers=AUTH, timeout=10).json()
        if shown["state"] in ("succeeded", "failed"):
            return dict(shown)
        time.sleep(1)
    raise AssertionError(f"request {request_id} not final after {timeout} s: {serve.log_path.read_text()[-3000:]}")
