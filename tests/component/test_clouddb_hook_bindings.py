"""Which resources the program binds the Cloud DB hooks to, and when the hooks are on (under Pulumi's mocks).

The mocks never call a hook (no deployment step runs); what they show is what the engine would receive:
the hooks registered by name, and the names bound to each resource (`tests/clouddb/test_clouddb_hooks.py`
calls the hook functions themselves).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components.clouddb_hooks import AFTER_CREATE, AFTER_DELETE, AFTER_UPDATE, HOOK_NAMES
from devkit.mockrun import ProgramRun, run_program
from railzway import clouddb
from railzway.clouddb import KEYS_ENV, URL_ENV, generate_key
from tests.conftest import SHIPPED_REGISTRY

ROW_HOOKS = {"after_create": [AFTER_CREATE], "after_update": [AFTER_UPDATE], "after_delete": [AFTER_DELETE]}
OFF_MESSAGE = (
    "Cloud DB hooks are off (RAILZWAY_CLOUD_DB_URL and RAILZWAY_CREDENTIALS_KEYS are not set, nor "
    "railzway:cloudDbUrl and railzway:credentialsKeys): run `python -m railzway sync --stack dev` after `pulumi up`"
)


@pytest.fixture
def no_cloud_db(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.delenv(KEYS_ENV, raising=False)


@pytest.fixture
def hooked_run(
    monkeypatch: pytest.MonkeyPatch, cloud_db: str, dev_config: dict[str, Any], no_cloud_db: None
) -> ProgramRun:
    monkeypatch.setenv(URL_ENV, cloud_db)
    monkeypatch.setenv(KEYS_ENV, generate_key())
    return run_program(SHIPPED_REGISTRY, dev_config)


def hooks_by_resource(run: ProgramRun) -> dict[str, dict[str, list[str]]]:
    """The Cloud DB hooks bound to each resource that has any, by lifecycle point."""
    bound: dict[str, dict[str, list[str]]] = {}
    for resource in run.resources:
        points = resource.options.get("hooks") or {}
        ours = {point: [n for n in names if n in HOOK_NAMES] for point, names in points.items()}
        ours = {point: names for point, names in ours.items() if names}
        if ours:
            bound[resource.name] = ours
    return bound


def test_with_a_cloud_db_each_tenants_role_database_job_and_component_carry_the_row_hooks(
    hooked_run: ProgramRun,
) -> None:
    hooked = hooks_by_resource(hooked_run)
    # 1001-1004 are eu-west tenants with a Nomad job (1005 is terminated); us-east has no Nomad.
    expected = {
        f"org-{org}{part}"
        for org in (1001, 1002, 1003, 1004, 1005, 2001, 2002, 2003)
        for part in ("", "-role", "-database")
    } | {f"org-{org}-job" for org in (1001, 1002, 1003, 1004)}
    assert set(hooked) == expected
    assert all(bindings == ROW_HOOKS for bindings in hooked.values())


def test_a_terminated_tenants_role_keeps_the_session_ending_hook_beside_the_row_hooks(
    hooked_run: ProgramRun,
) -> None:
    # The hooks compose: 1005 is terminated, and its role also ends its open sessions after the update.
    assert hooked_run.get("org-1005-role").options["hooks"] == {
        "after_create": [AFTER_CREATE],
        "after_update": ["railzway-end-terminated-sessions-eu-west", AFTER_UPDATE],
        "after_delete": [AFTER_DELETE],
    }


def test_with_a_cloud_db_the_hooks_are_registered_for_up_only_and_nothing_says_they_are_off(
    hooked_run: ProgramRun,
) -> None:
    ours = {name: flags for name, flags in hooked_run.resource_hooks.items() if name in HOOK_NAMES}
    assert ours == {name: {"on_dry_run": False, "ignore_errors": False} for name in HOOK_NAMES}

    assert not [message for _, message in hooked_run.logs if "hooks are off" in message]


def test_without_a_cloud_db_nothing_is_hooked_and_the_program_says_so_once(
    no_cloud_db: None, dev_config: dict[str, Any]
) -> None:
    run = run_program(SHIPPED_REGISTRY, dev_config)
    assert hooks_by_resource(run) == {}  # the session-ending hook of terminated roles stays
    assert run.get("org-1005-role").options["hooks"] == {"after_update": ["railzway-end-terminated-sessions-eu-west"]}
    assert [message for _, message in run.logs if "Cloud DB" in message] == [OFF_MESSAGE]


def test_without_a_cloud_db_the_hooks_are_still_registered_for_deletes_of_hooked_resources(
    no_cloud_db: None, dev_config: dict[str, Any]
) -> None:
    # The engine runs a deleted resource's hooks by the names in its state and fails an `up` that did not
    # register them: an `up` without a Cloud DB may remove a tenant deployed with the hooks on.
    assert set(HOOK_NAMES) <= set(run_program(SHIPPED_REGISTRY, dev_config).resource_hooks)


def test_the_cloud_db_may_come_from_secret_stack_config(
    no_cloud_db: None, cloud_db: str, dev_config: dict[str, Any]
) -> None:
    config = {**dev_config, "cloudDbUrl": cloud_db, "credentialsKeys": generate_key()}
    run = run_program(SHIPPED_REGISTRY, config, secret_keys=["credentialsKeys"])
    assert run.get("org-1001-role").options["hooks"] == ROW_HOOKS


def test_keys_in_plain_stack_config_are_refused(no_cloud_db: None, cloud_db: str, dev_config: dict[str, Any]) -> None:
    config = {**dev_config, "cloudDbUrl": cloud_db, "credentialsKeys": generate_key()}
    with pytest.raises(pulumi.RunError, match="railzway:credentialsKeys holds encryption keys and must be secret"):
        run_program(SHIPPED_REGISTRY, config)


def test_half_a_cloud_db_configuration_turns_the_hooks_off_saying_what_is_missing(
    no_cloud_db: None, monkeypatch: pytest.MonkeyPatch, cloud_db: str, dev_config: dict[str, Any]
) -> None:
    # The URL alone is how a stack adopting tenants from the Go control plane reads their seed passwords.
    monkeypatch.setenv(URL_ENV, cloud_db)
    run = run_program(SHIPPED_REGISTRY, dev_config)
    assert hooks_by_resource(run) == {}
    assert [message for _, message in run.logs if "Cloud DB" in message] == [
        "Cloud DB hooks are off (RAILZWAY_CLOUD_DB_URL (or railzway:cloudDbUrl) is set but "
        "RAILZWAY_CREDENTIALS_KEYS (or railzway:credentialsKeys) is not): "
        "run `python -m railzway sync --stack dev` after `pulumi up`"
    ]


def test_an_up_against_an_unreachable_cloud_db_fails_before_declaring_anything(
    no_cloud_db: None, monkeypatch: pytest.MonkeyPatch, dev_config: dict[str, Any]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(URL_ENV, f"postgresql://railzway@127.0.0.1:{port}/railzway_cloud")
    monkeypatch.setenv(KEYS_ENV, generate_key())
    with pytest.raises(pulumi.RunError, match=r"^the Cloud DB hooks cannot run: cannot connect to the Cloud DB"):
        run_program(SHIPPED_REGISTRY, dev_config)


def test_a_cloud_db_not_migrated_turns_the_hooks_off_saying_to_migrate(
    no_cloud_db: None, monkeypatch: pytest.MonkeyPatch, new_database: Callable[[], str], dev_config: dict[str, Any]
) -> None:
    # As before the hooks, an `up` needs no migrated Cloud DB (adoption deploys before migrating).
    monkeypatch.setenv(URL_ENV, new_database())
    monkeypatch.setenv(KEYS_ENV, generate_key())
    run = run_program(SHIPPED_REGISTRY, dev_config)
    assert hooks_by_resource(run) == {}
    assert [message for _, message in run.logs if "Cloud DB" in message] == [
        f"Cloud DB hooks are off (the Cloud DB schema has never been migrated; this program needs version "
        f"{clouddb.CLOUD_DB.latest()}: run `python -m railzway migrate`): run `python -m railzway sync --stack dev` "
        "after migrating"
    ]


def test_a_preview_needs_no_reachable_cloud_db(
    no_cloud_db: None, monkeypatch: pytest.MonkeyPatch, new_database: Callable[[], str], dev_config: dict[str, Any]
) -> None:
    # A PR preview runs no hook; it binds them as the `up` will, without connecting.
    monkeypatch.setenv(URL_ENV, new_database())  # never migrated
    monkeypatch.setenv(KEYS_ENV, generate_key())
    run = run_program(SHIPPED_REGISTRY, dev_config, preview=True)
    assert run.get("org-1001-job").options["hooks"] == ROW_HOOKS
