"""The mock-run library itself: what it records and how it reads the wire."""

from __future__ import annotations

from typing import Any

import pytest

from devkit import mockview
from devkit.mockrun import ProgramRun, fake_password
from railzway.tenant import password_rules


def test_fake_password_is_stable_and_in_the_generated_alphabet() -> None:
    password = fake_password("org-1-password", {"rotation": "a"})
    assert password == fake_password("org-1-password", {"rotation": "a"})
    assert password_rules.password_problem(password) is None


def test_fake_password_changes_with_keepers_and_name() -> None:
    base = fake_password("org-1-password", {"rotation": "a"})
    assert base != fake_password("org-1-password", {"rotation": "b"})
    assert base != fake_password("org-2-password", {"rotation": "a"})


def test_get_unknown_name_raises_key_error(dev_run: ProgramRun) -> None:
    with pytest.raises(KeyError, match="org-9999-role"):
        dev_run.get("org-9999-role")
    assert dev_run.find("org-9999-role") is None


def test_resources_are_recorded_with_urn_parent_and_custom_flag(dev_run: ProgramRun) -> None:
    role = dev_run.get("org-1001-role")
    component = dev_run.get("org-1001")
    assert role.urn == (
        "urn:pulumi:dev::railzway::railzway:index:TenantInstance$postgresql:index/role:Role::org-1001-role"
    )
    assert (role.parent, role.custom, component.custom) == (component.urn, True, False)
    assert component.parent is not None and component.parent.endswith("::pulumi:pulumi:Stack::railzway-dev")


def test_numbers_come_back_as_int_when_integral(dev_run: ProgramRun) -> None:
    limit = dev_run.get("org-1001-role").inputs["connectionLimit"]
    assert type(limit) is int and limit == 40


def test_null_outputs_are_kept_not_dropped(dev_run: ProgramRun) -> None:
    assert "nomad_job_id" in dev_run.outputs["tenants"]["2001"]
    assert dev_run.outputs["tenants"]["2001"]["nomad_job_id"] is None


def test_secret_paths_cover_nested_values(dev_run: ProgramRun) -> None:
    variable = dev_run.get("org-1001-variable")
    assert variable.secret_inputs == {"items"}
    assert variable.is_secret("items.DB_HOST") and not variable.is_secret("itemsX")
    assert dev_run.is_secret_output("tenants.1001.db_password")
    assert not dev_run.is_secret_output("tenants.1001")


# --- the engine's representation (devkit.mockview; compared with the real engine's in tests/policy) ---


def view_of(run: ProgramRun, name: str) -> dict[str, Any]:
    row: dict[str, Any] = next(r for r in mockview.stack_view(run) if r["name"] == name)
    return row


def test_an_empty_privilege_set_is_stored_as_null_as_the_provider_stores_it(dev_run: ProgramRun) -> None:
    grant = dev_run.get("org-1001-revoke-public")
    assert (grant.inputs["privileges"], grant.state["privileges"]) == ([], None)
    assert view_of(dev_run, "org-1001-revoke-public")["props"]["privileges"] is None


def test_a_resources_stored_outputs_hold_every_output_of_its_type_as_doubles(dev_run: ProgramRun) -> None:
    state = dev_run.get("org-1001-role").state
    # The Role's output properties, as the engine stores them (../shared/engine/up/stack.json, less `id`).
    assert sorted(state) == [
        "assumeRole",
        "bypassRowLevelSecurity",
        "connectionLimit",
        "createDatabase",
        "createRole",
        "encrypted",
        "encryptedPassword",
        "idleInTransactionSessionTimeout",
        "inherit",
        "login",
        "name",
        "password",
        "passwordWo",
        "passwordWoVersion",
        "replication",
        "roles",
        "searchPaths",
        "skipDropRole",
        "skipReassignOwned",
        "statementTimeout",
        "superuser",
        "validUntil",
    ]
    assert (state["connectionLimit"], state["assumeRole"]) == (40.0, None)
    assert type(state["connectionLimit"]) is float


def test_the_stack_view_shows_a_components_registered_outputs_not_its_inputs(dev_run: ProgramRun) -> None:
    props = view_of(dev_run, "org-1005")["props"]
    assert "orgId" not in props and "hasNomad" not in props
    assert (props["org_id"], props["db_name"], props["status"]) == (1005.0, "railzway_org_1005", "terminated")
    assert "nomad_job_id" not in props  # None: the SDK registers no null output


def test_the_stack_view_holds_the_stack_outputs_and_the_default_provider(dev_run: ProgramRun) -> None:
    stack = view_of(dev_run, "railzway-dev")
    assert (stack["type"], stack["parent"]) == ("pulumi:pulumi:Stack", None)
    assert stack["props"]["tenants"]["1001"]["db_port"] == 5432.0
    random_provider = view_of(dev_run, "default_4_21_4")
    assert view_of(dev_run, "org-1001-password")["provider"] == random_provider["urn"]
    assert random_provider["props"] == {"version": "4.21.4"}


def test_a_providers_stored_configuration_is_strings_with_its_version(dev_run: ProgramRun) -> None:
    props = view_of(dev_run, "postgresql-eu-west")["props"]
    assert props == {
        "host": "127.0.0.1",
        "port": "5432",
        "username": "postgres",
        "sslmode": "disable",
        "connectTimeout": "180",
        "version": "3.18.2",
    }
