"""The pure rules of a safe admin session (`railzway.admin.session_rules`)."""

from __future__ import annotations

import pytest

from railzway.admin.session_rules import admin_problems, search_path_is_safe, session_options, setting_value, setup_sql


@pytest.mark.parametrize(
    "value", ["pg_catalog, pg_temp", "pg_catalog", '"pg_catalog", "pg_temp"', "pg_catalog,pg_temp"]
)
def test_search_paths_that_resolve_only_in_the_catalogue_are_safe(value: str) -> None:
    assert search_path_is_safe(value)


@pytest.mark.parametrize(
    "value",
    ['"$user", public', "trap, pg_catalog, public", "pg_temp, pg_catalog", "pg_catalog, public", "", '"$user"'],
)
def test_search_paths_a_tenant_schema_could_enter_are_unsafe(value: str) -> None:
    assert not search_path_is_safe(value)


def test_setting_value_reads_a_setconfig_entry_by_name() -> None:
    entries = ["work_mem=64MB", "search_path=pg_catalog, pg_temp"]
    assert setting_value(entries, "search_path") == "pg_catalog, pg_temp"
    assert setting_value(entries, "role") is None
    assert setting_value(None, "search_path") is None


def test_an_admin_without_a_role_level_search_path_has_one_problem() -> None:
    assert admin_problems("railzway_provisioner", ["work_mem=64MB"], {}) == [
        "role railzway_provisioner has no role-level search_path, so in a tenant's database its sessions use the "
        "search_path the tenant sets on that database"
    ]


def test_an_admin_with_the_set_up_has_none_even_with_a_safe_per_database_value() -> None:
    assert (
        admin_problems("a", ["search_path=pg_catalog, pg_temp"], {"railzway_org_1": ["search_path=pg_catalog"]}) == []
    )


def test_an_unsafe_per_database_value_is_a_problem_with_its_fix() -> None:
    (problem,) = admin_problems("a", ["search_path=pg_catalog, pg_temp"], {"railzway_org_1": ["search_path=public"]})
    assert problem.endswith('ALTER ROLE "a" IN DATABASE "railzway_org_1" RESET search_path')


def test_the_set_up_statement_quotes_the_admins_name() -> None:
    assert setup_sql('we"ird') == 'ALTER ROLE "we""ird" SET search_path = pg_catalog, pg_temp'


def test_session_options_pin_every_setting_a_database_owner_can_use_against_the_admin() -> None:
    options = session_options()
    for pinned in ("search_path=pg_catalog,pg_temp", "role=none", "default_transaction_read_only=off"):
        assert f"-c {pinned}" in options
    assert session_options("-c work_mem=1MB").startswith("-c work_mem=1MB -c search_path=")
