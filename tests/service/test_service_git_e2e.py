"""End to end, with the real engine: the service commits a deploy to a real git remote, a pull request to
another stack's tenant lands meanwhile, and the deploy workflow's `fleet up --changed-only` then finds
nothing to do for the stack the service applied.

`serve` runs as a process with the real runner against shard stacks of a test environment in a `file://`
backend; the registry's remote is a bare repository on disk. The registry has one shard per region, so the
tenant the test signs up lands on eu-west/0 beside a seeded tenant, and the pull request's tenant is on
us-east/0 (another stack, never deployed here). Org ids are in a range of their own: roles are
cluster-wide and other modules share the server.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from service_helpers import PROJECT, TOKEN, ServeProcess

from devkit.localpg import LocalPostgres
from railzway.clouddb import stack_revisions
from tests.e2e_support import drop_tenants, local_stack_config, remove_test_stack
from tests.git_remote import RegistryRemote, git

pytestmark = [pytest.mark.e2e]

log = logging.getLogger(__name__)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SEEDED = 980_801
SIGNED_UP = 980_802
PR_TENANT = 980_803  # us-east/0: another stack


def tenant_yaml(org: int, region: str, version: str = "1.8.2") -> str:
    return (
        f"org_id: {org}\ntier: starter\nversion: '{version}'\nstatus: running\nregion: {region}\nshard: 0\n"
        f"subscription_id: sub_e2e{org}\n"
    )


@dataclass
class World:
    remote: RegistryRemote
    checkout: Path
    environment: str
    stack: str
    env: dict[str, str]


@pytest.fixture
def world(postgres: LocalPostgres, tmp_path: Path, env: dict[str, str], fresh_cloud_db: str) -> Iterator[World]:
    from pulumi import automation as auto

    seed = tmp_path / "seed" / "tenants"
    (seed / "orgs").mkdir(parents=True)
    shutil.copy(PROJECT / "tenants" / "tiers.yaml", seed / "tiers.yaml")
    (seed / "regions.yaml").write_text(
        "default: eu-west\nmax_tenants_per_shard: 250\nregions:\n  eu-west:\n    shards: 1\n  us-east:\n    shards: 1\n"
    )
    (seed / "orgs" / f"{SEEDED}.yaml").write_text(tenant_yaml(SEEDED, "eu-west"))
    remote = RegistryRemote(tmp_path / "git", seed)
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "--quiet", remote.url, str(checkout))

    environment = f"gite2e{secrets.token_hex(3)}"
    stack_name = f"{environment}-eu-west-00"
    (tmp_path / "backend").mkdir()
    pulumi_env = {
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    drop_tenants(postgres, [SEEDED, SIGNED_UP, PR_TENANT])
    selected = auto.create_or_select_stack(
        stack_name=stack_name, work_dir=str(PROJECT), opts=auto.LocalWorkspaceOptions(env_vars=pulumi_env)
    )
    try:
        # The stack reads the test's checkout of the branch; the service hands the engine its own snapshot.
        selected.set_all_config(local_stack_config(postgres, checkout / "tenants"), path=True)
        yield World(
            remote,
            checkout,
            environment,
            stack_name,
            {
                **env,
                **pulumi_env,
                "RAILZWAY_CLOUD_DB_URL": fresh_cloud_db,
                "RAILZWAY_ENVIRONMENT": environment,
                "RAILZWAY_REGISTRY_REMOTE": remote.url,
                "RAILZWAY_REGISTRY_BRANCH": "main",
                "RAILZWAY_REGISTRY_DIR": str(tmp_path / "service" / "registry" / "tenants"),
                "RAILZWAY_SERVICE_RECONCILE_MINUTES": "59",
            },
        )
    finally:
        try:
            remove_test_stack(selected)
        finally:
            drop_tenants(postgres, [SEEDED, SIGNED_UP, PR_TENANT])


def test_a_deploy_through_the_api_is_one_commit_and_the_next_changed_only_fleet_up_has_nothing_to_do(
    world: World, serve_process: Callable[..., ServeProcess]
) -> None:
    url = world.env["RAILZWAY_CLOUD_DB_URL"]
    serve = serve_process(world.env, name="git-e2e")
    serve.wait_ready(timeout=120)
    # On start the service reconciles: the seeded tenant's stack has no recorded revision yet.
    reconciled = wait_for(lambda: recorded(url).get(world.stack), timeout=900)
    assert reconciled == world.remote.head()

    pr = world.remote.pr_commit(
        f"PR: org {PR_TENANT}", {f"tenants/orgs/{PR_TENANT}.yaml": tenant_yaml(PR_TENANT, "us-east")}
    )
    response = httpx.post(
        f"{serve.base_url}/v1/orgs/{SIGNED_UP}/deploy",
        json={"version": "1.9.0", "tier": "starter", "region": "eu-west"},
        headers=AUTH,
        timeout=60,
    )
    assert response.status_code == 202, response.text
    request_id = response.json()["request_id"]
    result = wait_final(serve, request_id, timeout=900)
    assert result["state"] == "succeeded", result["reason"]

    head = world.remote.head()
    mentions = [subject for subject in world.remote.log(50) if request_id in subject]
    assert mentions == [
        f"deploy org {SIGNED_UP}: new tenant, tier starter, version 1.9.0, eu-west shard 0 (request {request_id})"
    ]
    assert world.remote.log(2)[1] == f"PR: org {PR_TENANT}"
    assert git(world.remote.root, "--git-dir", world.remote.url, "merge-base", "--is-ancestor", pr, head) == ""
    assert recorded(url)[world.stack] == head
    assert result["summary"]["revision"] == head and result["summary"]["revision_recorded"] is True

    git(world.checkout, "pull", "--quiet", "--ff-only")
    fleet_up = railzway(world, "fleet", "up", "--changed-only", "--stacks", world.stack)
    assert fleet_up.returncode == 0, fleet_up.stderr
    assert fleet_up.stdout.strip() == "fleet up: no stack to run (no tenant changed)"
    # And the engine agrees: the stack's state is the branch head.
    from pulumi import automation as auto

    stack = auto.select_stack(
        stack_name=world.stack,
        work_dir=str(PROJECT),
        opts=auto.LocalWorkspaceOptions(
            env_vars={k: world.env[k] for k in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE")}
        ),
    )
    stack.preview(expect_no_changes=True, on_output=log.info)

    status = railzway(world, "fleet", "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    assert '"drift": "current"' in status.stdout


def railzway(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "railzway",
            *args,
            "--registry",
            str(world.checkout / "tenants"),
            "--environment",
            world.environment,
        ],
        cwd=PROJECT,
        env={**os.environ, **world.env, "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
        timeout=900,
    )


def recorded(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {name: r.revision for name, r in stack_revisions(conn).items()}


def wait_for(value: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = value()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"nothing after {timeout} s")


def wait_final(serve: ServeProcess, request_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = httpx.get(f"{serve.base_url}/v1/requests/{request_id}", headers=AUTH, timeout=10).json()
        if shown["state"] in ("succeeded", "failed"):
            return dict(shown)
        time.sleep(1)
    raise AssertionError(f"request {request_id} not final after {timeout} s: {serve.log_path.read_text()[-3000:]}")
