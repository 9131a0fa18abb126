"""Issue 13's audit checks on a real server: the admin, tenants' own settings, objects shadowing the
catalogue inside tenant databases, the server's own databases, terminated tenants' passwords and sessions.
Each is introduced, found (exit 1, naming the object and the fix), repaired, and the audit is clean again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from audit_fleet import Fleet, run_cli

from railzway.registry import naming


def findings(fleet: Fleet, code: str, url: str | None = None) -> list[dict[str, Any]]:
    outcome = run_cli("audit", "--admin-url", url or fleet.url, "--registry", str(fleet.registry), "--format", "json")
    assert outcome.code == 1, outcome.out + outcome.err
    return [f for f in outcome.json()["findings"] if f["code"] == code]


def assert_clean(fleet: Fleet) -> None:
    outcome = fleet.audit()
    assert outcome.code == 0, outcome.out + outcome.err


@contextmanager
def as_tenant(fleet: Fleet, org_id: int, statements: list[str], repair: list[str]) -> Iterator[None]:
    """Run `statements` as the tenant in its own database; `repair` as the superuser there afterwards."""
    database = naming.database_name(org_id)
    with psycopg.connect(
        fleet.server.url(database, naming.role_name(org_id), fleet.passwords[org_id]), autocommit=True
    ) as conn:
        for statement in statements:
            conn.execute(statement.encode())
    try:
        yield
    finally:
        with psycopg.connect(fleet.server.url(database), autocommit=True) as conn:
            for statement in repair:
                conn.execute(statement.encode())


def test_the_audit_says_whether_the_admin_is_safe(fleet: Fleet) -> None:
    safe = run_cli("audit", "--admin-url", fleet.url, "--registry", str(fleet.registry), "--region", "eu-west")
    unsafe = run_cli("audit", "--admin-url", fleet.server.url(), "--registry", str(fleet.registry), "--format", "json")
    assert "admin provisioner of region eu-west: safe (role-level search_path pg_catalog, pg_temp)" in safe.out
    assert unsafe.json()["admin"] == {"user": "postgres", "safe": False}


def test_an_admin_without_the_region_set_up_is_a_finding_naming_the_fix(fleet: Fleet) -> None:
    (found,) = findings(fleet, "admin-steerable", url=fleet.server.url())
    assert (found["org_id"], found["object"]) == (None, "role postgres")
    assert found["fix"] == 'ALTER ROLE "postgres" SET search_path = pg_catalog, pg_temp (README.md, Region set-up)'


def test_a_tenant_database_with_its_own_search_path_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER DATABASE railzway_org_101 SET search_path = trap, pg_catalog"],
        ["ALTER DATABASE railzway_org_101 RESET ALL"],
    ):
        (found,) = findings(fleet, "tenant-setting")
    assert (found["org_id"], found["object"]) == (101, "database railzway_org_101")
    assert "search_path=trap, pg_catalog" in found["problem"]
    assert found["fix"] == 'ALTER DATABASE "railzway_org_101" RESET ALL'
    assert_clean(fleet)


def test_a_tenant_role_with_its_own_settings_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER ROLE railzway_user_102 SET work_mem = '64MB'"], ["ALTER ROLE railzway_user_102 RESET ALL"]
    ):
        (found,) = findings(fleet, "tenant-setting")
    assert (found["org_id"], found["object"], found["fix"]) == (
        102,
        "role railzway_user_102",
        'ALTER ROLE "railzway_user_102" RESET ALL',
    )
    assert_clean(fleet)


def test_the_issues_trap_inside_a_tenant_database_is_found_and_does_not_fire(fleet: Fleet) -> None:
    trap = [
        "create schema trap",
        "create function trap.escalate() returns void language plpgsql as $$ begin "
        "if (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then "
        "execute 'alter role railzway_user_101 superuser'; end if; end $$",
        "create function trap.pg_advisory_xact_lock(bigint) returns void language plpgsql as "
        "$$ begin perform trap.escalate(); perform pg_catalog.pg_advisory_xact_lock($1); end $$",
        "create view trap.pg_roles as select * from pg_catalog.pg_roles",
        "alter database railzway_org_101 set search_path = trap, pg_catalog, public",
    ]
    with as_tenant(fleet, 101, trap, ["DROP SCHEMA trap CASCADE", "ALTER DATABASE railzway_org_101 RESET ALL"]):
        (found,) = findings(fleet, "catalog-shadow")
        with psycopg.connect(fleet.server.url(), autocommit=True) as conn:
            row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = 'railzway_user_101'").fetchone()
    assert row == (False,)
    assert (found["org_id"], found["object"]) == (101, "database railzway_org_101")
    assert "function trap.pg_advisory_xact_lock(bigint)" in found["problem"]
    assert "relation trap.pg_roles" in found["problem"]
    assert_clean(fleet)


def test_a_schema_named_after_the_admin_and_a_shadowing_operator_are_found(fleet: Fleet) -> None:
    trap = [
        "create schema provisioner",
        "create function provisioner.name_eq(name, name) returns boolean language sql as 'select true'",
        "create operator provisioner.= (leftarg = name, rightarg = name, function = provisioner.name_eq)",
    ]
    with as_tenant(fleet, 102, trap, ["DROP SCHEMA provisioner CASCADE"]):
        (found,) = findings(fleet, "catalog-shadow")
    assert "operator provisioner.=(name, name)" in found["problem"]
    assert "schema provisioner.provisioner" in found["problem"]
    assert_clean(fleet)


def test_an_extension_style_overload_on_its_own_type_is_not_a_shadow(fleet: Fleet) -> None:
    own = [
        "create domain public.label as text",
        "create function public.lower(public.label) returns text language sql as 'select pg_catalog.lower($1::text)'",
        "create function public.upper(integer) returns integer language sql as 'select $1'",
    ]
    with as_tenant(
        fleet, 201, own, ["DROP FUNCTION public.lower(public.label), public.upper(integer)", "DROP DOMAIN public.label"]
    ):
        assert_clean(fleet)


def test_public_connect_on_the_servers_own_database_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(
        ["GRANT CONNECT ON DATABASE template1 TO PUBLIC"], ["REVOKE ALL ON DATABASE template1 FROM PUBLIC"]
    ):
        (found,) = findings(fleet, "server-database-public")
    assert (found["org_id"], found["object"]) == (None, "database template1")
    assert "PUBLIC holds CONNECT" in found["problem"]
    assert_clean(fleet)


def test_a_terminated_tenants_password_that_is_still_valid_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER ROLE railzway_user_104 VALID UNTIL 'infinity'"],
        ["ALTER ROLE railzway_user_104 VALID UNTIL '-infinity'"],
    ):
        (found,) = findings(fleet, "terminated-role-password")
    assert (found["org_id"], found["fix"]) == (
        104,
        "`pulumi up`; or ALTER ROLE \"railzway_user_104\" VALID UNTIL '-infinity'",
    )
    assert_clean(fleet)


def test_a_terminated_tenants_open_session_is_a_finding(fleet: Fleet) -> None:
    reopen = [
        "ALTER ROLE railzway_user_104 LOGIN VALID UNTIL 'infinity' CONNECTION LIMIT -1",
        "ALTER DATABASE railzway_org_104 CONNECTION LIMIT -1",
    ]
    close = [
        "ALTER ROLE railzway_user_104 NOLOGIN VALID UNTIL '-infinity' CONNECTION LIMIT 0",
        "ALTER DATABASE railzway_org_104 CONNECTION LIMIT 0",
    ]
    fleet.sql(*reopen)
    try:
        session = psycopg.connect(
            fleet.server.url("railzway_org_104", "railzway_user_104", fleet.passwords[104]), autocommit=True
        )
    finally:
        fleet.sql(*close)
    with session:
        (found,) = findings(fleet, "terminated-sessions")
    assert (found["org_id"], found["problem"]) == (104, "has 1 open session although the tenant is terminated")
    wait_until_gone(fleet, "railzway_user_104")
    assert_clean(fleet)


def wait_until_gone(fleet: Fleet, role: str) -> None:
    """A closed connection's backend exits just after the client hangs up: wait for it, up to 10 s."""
    with psycopg.connect(fleet.server.url(), autocommit=True) as conn:
        for _ in range(200):
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,)).fetchone()
            if row == (0,):
                return
            time.sleep(0.05)
    raise AssertionError(f"{role}'s session did not end")
