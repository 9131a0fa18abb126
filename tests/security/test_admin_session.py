"""Issue 13 on the real server: a tenant's traps against an admin session, opened our way and the unsafe way.

Each attack is planted by a real tenant role in the database it owns; then an admin session runs what the
postgresql provider runs there (unqualified names, one transaction, committed). The unsafe sessions show
each attack works, so the tests of the defence can fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from tenant_trap import (
    ISSUE_ATTACK,
    OPERATOR_ATTACK,
    VIEW_ATTACK,
    Tenant,
    hostile_tenant,
    provider_writes_the_grant,
    user_schema_attack,
)

from devkit.localpg import LocalPostgres
from railzway.admin.sessions import check_region_admin, connect_admin
from railzway.config.stack_config import PostgresEndpoint


@pytest.fixture
def tenant(postgres: LocalPostgres) -> Iterator[Tenant]:
    with hostile_tenant(postgres) as made:
        yield made


def test_the_issues_attack_escalates_through_a_session_opened_the_unsafe_way(
    postgres: LocalPostgres, tenant: Tenant, unpinned_admin: str
) -> None:
    tenant.run(*ISSUE_ATTACK)
    with psycopg.connect(postgres.url(tenant.database, unpinned_admin, postgres.password)) as conn:
        provider_writes_the_grant(conn, tenant.database)
    assert tenant.is_superuser()


def test_the_issues_attack_does_not_escalate_through_connect_admin(
    postgres: LocalPostgres, tenant: Tenant, unpinned_admin: str
) -> None:
    tenant.run(*ISSUE_ATTACK)
    with connect_admin(postgres.url(tenant.database, unpinned_admin, postgres.password), autocommit=False) as conn:
        provider_writes_the_grant(conn, tenant.database)
    assert not tenant.is_superuser()


def test_the_role_level_search_path_alone_stops_the_issues_attack(
    postgres: LocalPostgres, tenant: Tenant, pinned_admin: str
) -> None:
    # No options at all: what the provider does when an operator runs `pulumi up` by hand.
    tenant.run(*ISSUE_ATTACK)
    with psycopg.connect(postgres.url(tenant.database, pinned_admin, postgres.password)) as conn:
        assert conn.execute("SHOW search_path").fetchone() == ("pg_catalog, pg_temp",)
        provider_writes_the_grant(conn, tenant.database)
    assert not tenant.is_superuser()


@pytest.mark.parametrize("attack", [VIEW_ATTACK, OPERATOR_ATTACK], ids=["shadowing-view", "shadowing-operator"])
def test_a_shadowing_object_escalates_the_unsafe_way(
    postgres: LocalPostgres, tenant: Tenant, unpinned_admin: str, attack: tuple[str, ...]
) -> None:
    tenant.run(*attack)
    with psycopg.connect(postgres.url(tenant.database, unpinned_admin, postgres.password)) as conn:
        provider_writes_the_grant(conn, tenant.database)
    assert tenant.is_superuser()


@pytest.mark.parametrize("attack", [VIEW_ATTACK, OPERATOR_ATTACK], ids=["shadowing-view", "shadowing-operator"])
def test_a_shadowing_object_does_not_escalate_through_either_defence(
    postgres: LocalPostgres, tenant: Tenant, unpinned_admin: str, pinned_admin: str, attack: tuple[str, ...]
) -> None:
    tenant.run(*attack)
    with connect_admin(postgres.url(tenant.database, unpinned_admin, postgres.password), autocommit=False) as conn:
        provider_writes_the_grant(conn, tenant.database)
    with psycopg.connect(postgres.url(tenant.database, pinned_admin, postgres.password)) as conn:
        provider_writes_the_grant(conn, tenant.database)
    assert not tenant.is_superuser()


def test_a_schema_named_after_the_admin_escalates_the_unsafe_way(
    postgres: LocalPostgres, tenant: Tenant, unpinned_admin: str
) -> None:
    tenant.run(*user_schema_attack(unpinned_admin))
    with psycopg.connect(postgres.url(tenant.database, unpinned_admin, postgres.password)) as conn:
        provider_writes_the_grant(conn, tenant.database)
    assert tenant.is_superuser()


def test_a_schema_named_after_the_admin_does_not_escalate_through_either_defence(
    postgres: LocalPostgres, tenant: Tenant, unpinned_admin: str, pinned_admin: str
) -> None:
    tenant.run(
        *user_schema_attack(unpinned_admin),
        *user_schema_attack(pinned_admin)[:1],
        *user_schema_attack(pinned_admin)[3:4],
    )
    with connect_admin(postgres.url(tenant.database, unpinned_admin, postgres.password), autocommit=False) as conn:
        provider_writes_the_grant(conn, tenant.database)
    with psycopg.connect(postgres.url(tenant.database, pinned_admin, postgres.password)) as conn:
        provider_writes_the_grant(conn, tenant.database)
    assert not tenant.is_superuser()


def test_a_database_level_role_does_not_change_who_connect_admin_runs_as(
    postgres: LocalPostgres, tenant: Tenant, unpinned_admin: str
) -> None:
    tenant.run("alter database {database} set role = {role}")
    url = postgres.url(tenant.database, unpinned_admin, postgres.password)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (tenant.role,)
    with connect_admin(url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (unpinned_admin,)


@pytest.mark.parametrize(
    "setting",
    [
        "default_transaction_read_only = on",
        "statement_timeout = '1ms'",
        "local_preload_libraries = 'nothing_here'",
    ],
)
def test_a_setting_that_stops_admin_writes_does_not_stop_connect_admin(
    postgres: LocalPostgres, tenant: Tenant, unpinned_admin: str, setting: str
) -> None:
    tenant.run(f"alter database {{database}} set {setting}")
    url = postgres.url(tenant.database, unpinned_admin, postgres.password)
    with connect_admin(url, autocommit=False) as conn:
        conn.execute("SELECT pg_catalog.pg_sleep(0.01)")
        provider_writes_the_grant(conn, tenant.database)
    with pytest.raises(psycopg.Error):
        with psycopg.connect(url, autocommit=False) as conn:
            conn.execute("SELECT pg_catalog.pg_sleep(0.01)")
            provider_writes_the_grant(conn, tenant.database)


def test_connect_admin_keeps_the_callers_options_and_pins_its_own_after_them(
    postgres: LocalPostgres, unpinned_admin: str
) -> None:
    url = postgres.url("postgres", unpinned_admin, postgres.password)
    with connect_admin(url, options="-c search_path=public -c application_name=mine") as conn:
        row = conn.execute("SELECT current_setting('search_path'), current_setting('application_name')").fetchone()
    assert row == ("pg_catalog,pg_temp", "mine")


def test_a_region_whose_admin_has_no_role_level_search_path_is_refused_naming_it_and_the_fix(
    postgres: LocalPostgres, unpinned_admin: str
) -> None:
    problem = check_region_admin("eu-west", endpoint(postgres, unpinned_admin))
    assert problem is not None
    assert problem.startswith(
        f"railzway:regions.eu-west.postgres: refusing to run the postgresql provider as {unpinned_admin}@"
    )
    assert f'ALTER ROLE "{unpinned_admin}" SET search_path = pg_catalog, pg_temp' in problem
    assert postgres.password not in problem


def test_a_region_whose_admin_carries_the_set_up_passes(postgres: LocalPostgres, pinned_admin: str) -> None:
    assert check_region_admin("eu-west", endpoint(postgres, pinned_admin)) is None


def test_an_unsafe_search_path_for_the_admin_in_one_database_is_refused(
    postgres: LocalPostgres, pinned_admin: str, tenant: Tenant
) -> None:
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f'ALTER ROLE "{pinned_admin}" IN DATABASE "{tenant.database}" SET search_path = public'.encode())
    problem = check_region_admin("us-east", endpoint(postgres, pinned_admin))
    assert problem is not None and f"in database {tenant.database}" in problem


def test_an_unreachable_admin_is_refused_without_its_password(postgres: LocalPostgres, pinned_admin: str) -> None:
    wrong = endpoint(postgres, pinned_admin).model_copy(update={"password": "not-the-password"})
    problem = check_region_admin("eu-west", wrong)
    assert problem is not None and problem.startswith("railzway:regions.eu-west.postgres: cannot check the admin")
    assert "not-the-password" not in problem


def endpoint(server: LocalPostgres, admin: str) -> PostgresEndpoint:
    return PostgresEndpoint(
        host=server.host,
        tenant_host=server.host,
        port=server.port,
        username=admin,
        sslmode="disable",
        password=server.password,
    )
