"""The service as a git client of the registry, against a real bare repository on disk.

A second clone (`RegistryRemote.pr_commit`) plays the pull request merged while the service works. The
engine is the fake runner, reading the snapshot of the branch the service hands it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from fake_runner import FakeStacks
from service_helpers import TOKEN, ServeProcess, async_client, wait_until_final

from railzway.clouddb import stack_revisions
from railzway.engine.stacks import PulumiUnavailable, StackRunner
from railzway.service.core import Service
from railzway.service.settings import Settings
from tests.git_remote import RegistryRemote

pytestmark = pytest.mark.anyio

STACK_EU0 = "test-eu-west-00"  # holds 1001, 1002 (and 1005, terminated)
STACK_EU1 = "test-eu-west-01"  # holds 1003, 1004


@pytest.fixture
def remote(tmp_path: Path, registry_dir: Path) -> RegistryRemote:
    return RegistryRemote(tmp_path / "git", registry_dir)


@pytest.fixture
def git_env(env: dict[str, str], remote: RegistryRemote, tmp_path: Path) -> dict[str, str]:
    return {
        **env,
        "RAILZWAY_REGISTRY_REMOTE": remote.url,
        "RAILZWAY_REGISTRY_BRANCH": "main",
        "RAILZWAY_REGISTRY_DIR": str(tmp_path / "service" / "registry" / "tenants"),
        "RAILZWAY_REGISTRY_AUTHOR_NAME": "Provisioning service",
        "RAILZWAY_REGISTRY_AUTHOR_EMAIL": "provisioning@example.com",
    }


@pytest.fixture
def reading_fake(fake: FakeStacks) -> Callable[[Path], StackRunner]:
    """The fake runner, pointed at the registry snapshot each update is given."""

    def runner(registry: Path) -> StackRunner:
        fake.registry_dir = registry
        return fake

    return runner


@contextlib.asynccontextmanager
async def opened(settings: Settings, runner: Callable[[Path], StackRunner]) -> AsyncIterator[Service]:
    service = Service(settings, runner=runner)
    await asyncio.to_thread(service.start_registry)
    await service.open()
    try:
        yield service
    finally:
        await service.close()


@contextlib.asynccontextmanager
async def workers(service: Service) -> AsyncIterator[None]:
    task = asyncio.create_task(service.run_workers())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def submit(service: Service, org: int, action: str, body: dict[str, Any] | None = None) -> str:
    async with async_client(service) as http:
        response = await http.post(f"/v1/orgs/{org}/{action}", json=body)
    assert response.status_code == 202, response.json()
    return str(response.json()["request_id"])


async def shown(service: Service, request_id: str) -> dict[str, Any]:
    async with async_client(service) as http:
        return dict((await http.get(f"/v1/requests/{request_id}")).json())


def recorded(url: str) -> dict[str, tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return {name: (r.revision, r.applied_by) for name, r in stack_revisions(conn).items()}


def version_of(remote: RegistryRemote, org: int) -> str:
    return str(yaml.safe_load(remote.show(f"tenants/orgs/{org}.yaml"))["version"])


def with_version(remote: RegistryRemote, org: int, version: str) -> dict[str, str]:
    text = remote.show(f"tenants/orgs/{org}.yaml")
    lines = [f'version: "{version}"' if line.startswith("version:") else line for line in text.splitlines()]
    return {f"tenants/orgs/{org}.yaml": "\n".join(lines) + "\n"}


async def test_a_deploy_is_one_commit_naming_the_request_and_a_pull_request_merged_meanwhile_survives(
    git_env: dict[str, str], remote: RegistryRemote, reading_fake: Callable[[Path], StackRunner]
) -> None:
    async with opened(Settings.from_env(git_env), reading_fake) as service:
        writer = service.registry.write
        raced: list[str] = []

        def write_after_a_merge(tenant: Any) -> Any:
            # The pull request lands after the service fetched and before it pushes.
            if not raced:
                raced.append(remote.pr_commit("PR: org 1004 to 1.9.1", with_version(remote, 1004, "1.9.1")))
            return writer(tenant)

        service.registry.write = write_after_a_merge  # type: ignore[method-assign]
        request_id = await submit(service, 1001, "deploy", {"version": "1.9.0", "tier": "growth"})

    assert remote.log(3) == [
        f"deploy org 1001: version 1.8.2 -> 1.9.0 (request {request_id})",
        "PR: org 1004 to 1.9.1",
        "seed the registry",
    ]
    assert version_of(remote, 1001) == "1.9.0"
    assert version_of(remote, 1004) == "1.9.1"


async def test_the_request_records_its_commit_and_succeeds_once_the_stack_applied_it(
    git_env: dict[str, str], remote: RegistryRemote, reading_fake: Callable[[Path], StackRunner], fake: FakeStacks
) -> None:
    async with opened(Settings.from_env(git_env), reading_fake) as service:
        await reconciled(service, git_env["RAILZWAY_CLOUD_DB_URL"])
        request_id = await submit(service, 1002, "stop")
        async with workers(service):
            states = await wait_until_final(git_env["RAILZWAY_CLOUD_DB_URL"], [request_id])
        body = await shown(service, request_id)
    assert states == {request_id: "succeeded"}
    assert body["summary"]["commit"] == remote.head()
    assert body["summary"]["revision"] == remote.head()
    assert [(c.stack, c.orgs) for c in fake.calls if c.orgs] == [(STACK_EU0, (1002,))]
    assert remote.log(1) == [f"stop org 1002: status running -> stopped (request {request_id})"]


async def test_a_failed_request_is_reverted_by_a_commit_that_says_why(
    git_env: dict[str, str], remote: RegistryRemote
) -> None:
    seeded = remote.show("tenants/orgs/1001.yaml")

    def no_engine(registry: Path) -> StackRunner:
        raise PulumiUnavailable("no pulumi")

    async with opened(Settings.from_env(git_env), no_engine) as service:
        request_id = await submit(service, 1001, "deploy", {"version": "1.9.0", "tier": "growth"})
        async with workers(service):
            states = await wait_until_final(git_env["RAILZWAY_CLOUD_DB_URL"], [request_id])
    assert states == {request_id: "failed"}
    assert remote.log(2) == [
        f"revert deploy org 1001 (request {request_id}): the pulumi CLI is not on PATH",
        f"deploy org 1001: version 1.8.2 -> 1.9.0 (request {request_id})",
    ]
    assert remote.show("tenants/orgs/1001.yaml") == seeded.rstrip("\n")


async def test_a_failed_request_never_undoes_a_later_pull_request_to_the_same_tenant(
    git_env: dict[str, str], remote: RegistryRemote
) -> None:
    merged: list[str] = []

    def no_engine(registry: Path) -> StackRunner:
        # The pull request changes the same tenant after the request's commit, before it fails.
        if not merged:
            merged.append(remote.pr_commit("PR: org 1001 to 2.0.0", with_version(remote, 1001, "2.0.0")))
        raise PulumiUnavailable("no pulumi")

    async with opened(Settings.from_env(git_env), no_engine) as service:
        request_id = await submit(service, 1001, "deploy", {"version": "1.9.0", "tier": "growth"})
        async with workers(service):
            await wait_until_final(git_env["RAILZWAY_CLOUD_DB_URL"], [request_id])
    assert remote.log(1) == ["PR: org 1001 to 2.0.0"]
    assert version_of(remote, 1001) == "2.0.0"


async def test_a_terminate_that_failed_does_not_block_the_tenant(
    git_env: dict[str, str], remote: RegistryRemote
) -> None:
    def no_engine(registry: Path) -> StackRunner:
        raise PulumiUnavailable("no pulumi")

    async with opened(Settings.from_env(git_env), no_engine) as service:
        request_id = await submit(service, 1002, "terminate")
        async with workers(service):
            await wait_until_final(git_env["RAILZWAY_CLOUD_DB_URL"], [request_id])
        assert yaml.safe_load(remote.show("tenants/orgs/1002.yaml"))["status"] == "running"
        async with async_client(service) as http:
            response = await http.post("/v1/orgs/1002/stop")
    assert response.status_code == 202, response.json()


async def test_a_stack_behind_the_head_gets_a_visible_reconcile_request_that_records_the_head(
    git_env: dict[str, str], remote: RegistryRemote, reading_fake: Callable[[Path], StackRunner], fake: FakeStacks
) -> None:
    url = git_env["RAILZWAY_CLOUD_DB_URL"]
    async with opened(Settings.from_env(git_env), reading_fake) as service:
        report = await service.work.reconcile()
        assert sorted(report["queued"]) == [STACK_EU0, STACK_EU1, "test-us-east-00"]
        async with workers(service):
            ids = await _reconcile_ids(url)
            states = await wait_until_final(url, ids)
        assert set(states.values()) == {"succeeded"}
        head = remote.head()
        assert {stack: rev for stack, (rev, _) in recorded(url).items()} == {
            STACK_EU0: head,
            STACK_EU1: head,
            "test-us-east-00": head,
        }
        assert all(c.orgs == () for c in fake.calls)  # whole-stack updates
        assert (await service.work.reconcile())["queued"] == []


async def test_a_pull_request_to_one_stack_reconciles_that_stack_and_advances_the_others(
    git_env: dict[str, str], remote: RegistryRemote, reading_fake: Callable[[Path], StackRunner]
) -> None:
    url = git_env["RAILZWAY_CLOUD_DB_URL"]
    async with opened(Settings.from_env(git_env), reading_fake) as service:
        await reconciled(service, url)
        head = remote.pr_commit("PR: org 1003 to 1.9.0", with_version(remote, 1003, "1.9.0"))
        report = await service.work.reconcile()
        assert (report["queued"], sorted(report["advanced"])) == ([STACK_EU1], [STACK_EU0, "test-us-east-00"])
        async with workers(service):
            await wait_until_final(url, await _reconcile_ids(url))
    assert {rev for rev, _ in recorded(url).values()} == {head}


async def test_a_targeted_deploy_records_the_head_only_when_nothing_else_of_the_stack_changed(
    git_env: dict[str, str], remote: RegistryRemote, reading_fake: Callable[[Path], StackRunner]
) -> None:
    url = git_env["RAILZWAY_CLOUD_DB_URL"]
    async with opened(Settings.from_env(git_env), reading_fake) as service:
        await reconciled(service, url)
        async with workers(service):
            first = await submit(service, 1001, "stop")
            await wait_until_final(url, [first])
            assert recorded(url)[STACK_EU0] == (remote.head(), f"service request {first}")
            before = remote.head()
            remote.pr_commit("PR: org 1002 to 1.9.0", with_version(remote, 1002, "1.9.0"))  # same stack
            second = await submit(service, 1001, "start")
            await wait_until_final(url, [second])
        body = await shown(service, second)
    assert body["summary"]["revision_recorded"] is False
    assert recorded(url)[STACK_EU0][0] == before


async def test_get_stacks_shows_each_stacks_revision_and_its_drift(
    git_env: dict[str, str], remote: RegistryRemote, reading_fake: Callable[[Path], StackRunner]
) -> None:
    url = git_env["RAILZWAY_CLOUD_DB_URL"]
    async with opened(Settings.from_env(git_env), reading_fake) as service:
        await reconciled(service, url)
        applied = remote.head()
        remote.pr_commit("PR: 1003", with_version(remote, 1003, "1.9.0"))
        remote.pr_commit("PR: 1004", with_version(remote, 1004, "1.9.0"))
        remote.pr_commit("PR: 1003 again", with_version(remote, 1003, "1.9.1"))
        async with async_client(service) as http:
            response = await http.get("/v1/stacks")
    assert response.status_code == 200
    by_stack = {s["stack"]: s for s in response.json()}
    eu1 = by_stack[STACK_EU1]
    assert (eu1["revision"], eu1["head"], eu1["behind"], eu1["tenants_changed"]) == (
        applied,
        remote.head(),
        3,
        [1003, 1004],
    )
    assert eu1["drift"] == "drifted: 3 commits behind, tenants 1003, 1004 changed"
    assert re.fullmatch(r"service requests? [0-9a-f-]{36}", eu1["applied_by"])


async def test_the_commit_identity_comes_from_the_settings(
    git_env: dict[str, str], remote: RegistryRemote, reading_fake: Callable[[Path], StackRunner]
) -> None:
    async with opened(Settings.from_env(git_env), reading_fake) as service:
        await submit(service, 1002, "stop")
    assert remote.author() == "Provisioning service <provisioning@example.com>"


def test_a_remote_url_carrying_a_password_is_refused_without_echoing_it(git_env: dict[str, str]) -> None:
    from railzway.service.settings import SettingsError

    with pytest.raises(SettingsError, match="RAILZWAY_REGISTRY_REMOTE must not carry a password") as caught:
        Settings.from_env({**git_env, "RAILZWAY_REGISTRY_REMOTE": "https://bot:hunter22@git.example.com/r.git"})
    assert "hunter22" not in str(caught.value)


def test_with_a_remote_the_registry_directory_is_cloned_on_start_not_required_up_front(git_env: dict[str, str]) -> None:
    settings = Settings.from_env(git_env)
    assert not settings.registry_dir.exists()
    assert (settings.registry_remote, settings.registry_branch) == (git_env["RAILZWAY_REGISTRY_REMOTE"], "main")
    Service(settings).start_registry()
    assert (settings.registry_dir / "orgs" / "1001.yaml").is_file()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RAILZWAY_REGISTRY_BRANCH", "--upload-pack=x", "RAILZWAY_REGISTRY_BRANCH must be a branch name"),
        ("RAILZWAY_SERVICE_RECONCILE_MINUTES", "60", "RAILZWAY_SERVICE_RECONCILE_MINUTES must be at most 59"),
        ("RAILZWAY_SERVICE_RECONCILE_MINUTES", "soon", "RAILZWAY_SERVICE_RECONCILE_MINUTES must be a positive integer"),
    ],
)
def test_bad_git_settings_are_refused_naming_the_variable(
    git_env: dict[str, str], name: str, value: str, message: str
) -> None:
    from railzway.service.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**git_env, name: value})


async def reconciled(service: Service, url: str) -> None:
    """Every stack brought to the branch head and its revision recorded, as after a first start."""
    await service.work.reconcile()
    async with workers(service):
        await wait_until_final(url, await _reconcile_ids(url))


async def _reconcile_ids(url: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        rows = await (
            await conn.execute("SELECT id::text FROM railzway_requests WHERE action = 'reconcile' AND org_id IS NULL")
        ).fetchall()
    return [r[0] for r in rows]


def test_killing_the_service_between_its_push_and_its_up_is_healed_on_restart(
    git_env: dict[str, str], remote: RegistryRemote, serve_process: Callable[..., ServeProcess], fresh_cloud_db: str
) -> None:
    env = {**git_env, "RAILZWAY_CLOUD_DB_URL": fresh_cloud_db}
    first = serve_process(env, {"RAILZWAY_FAKE_RUNNER_DELAY": "600"}, name="first", fake_runner=True)
    first.wait_ready()
    response = httpx.post(
        f"{first.base_url}/v1/orgs/1001/deploy",
        json={"version": "1.9.0", "tier": "growth"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 202
    request_id = response.json()["request_id"]
    pushed = remote.head()
    assert remote.log(1) == [f"deploy org 1001: version 1.8.2 -> 1.9.0 (request {request_id})"]
    first.stop()  # SIGKILL right after the 202: the commit is pushed, the stack never applied it

    second = serve_process(env, name="second", fake_runner=True)
    second.wait_ready()
    states = asyncio.run(wait_until_final(fresh_cloud_db, [request_id], timeout=60))
    assert states == {request_id: "succeeded"}
    with psycopg.connect(fresh_cloud_db) as conn:
        version = conn.execute("SELECT current_version FROM instances WHERE org_id = 1001").fetchone()
    assert version == ("1.9.0",)
    _wait_until(lambda: recorded(fresh_cloud_db).get(STACK_EU0, ("", ""))[0] == pushed)
    assert remote.head() == pushed  # healed without another commit


def _wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)
