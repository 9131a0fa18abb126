"""The mock-run library itself: what it records and how it reads the wire."""

from __future__ import annotations

import pytest

from railzway import rules
from railzway.mockrun import ProgramRun, fake_password


def test_fake_password_is_stable_and_in_the_generated_alphabet() -> None:
    password = fake_password("org-1-password", {"rotation": "a"})
    assert password == fake_password("org-1-password", {"rotation": "a"})
    assert rules.password_problem(password) is None


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
