"""Each security or data finding, introduced one at a time on a real server: exit 1 naming the org, then
repaired, clean again. The fleet (conftest.FLEET) is built with plain SQL exactly as the component does."""

from __future__ import annotations

import pytest
from audit_fleet import Fleet

from railzway.audit.findings import ROLE_FLAG_TEXT
from railzway.tenant.spec import ROLE_PRIVILEGE_FLAGS


def assert_finding(fleet: Fleet, org_id: int, code: str) -> None:
    outcome = fleet.audit()
    assert outcome.code == 1, outcome.out + outcome.err
    assert code in outcome.codes_for(org_id), outcome.out
    flagged = [f for f in outcome.json()["findings"] if f["code"] == code and f["org_id"] == org_id]
    assert all(f["severity"] == "finding" and f["fix"] for f in flagged)


def assert_clean(fleet: Fleet) -> None:
    outcome = fleet.audit()
    assert outcome.code == 0, outcome.out + outcome.err
    assert outcome.json()["findings"] == []


def test_the_fleet_as_built_is_clean_including_a_terminated_tenants_retained_data(fleet: Fleet) -> None:
    outcome = fleet.audit()
    assert outcome.code == 0, outcome.out + outcome.err
    assert outcome.json()["tenants"] == 5
    assert outcome.json()["counts"] == {"finding": 0, "warning": 0}


def test_a_missing_role_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER ROLE railzway_user_102 RENAME TO parked_102"], ["ALTER ROLE parked_102 RENAME TO railzway_user_102"]
    ):
        assert_finding(fleet, 102, "role-missing")
    assert_clean(fleet)


def test_a_missing_database_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER DATABASE railzway_org_201 RENAME TO parked_201"],
        ["ALTER DATABASE parked_201 RENAME TO railzway_org_201"],
    ):
        assert_finding(fleet, 201, "database-missing")
    assert_clean(fleet)


def test_a_terminated_tenants_missing_database_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER DATABASE railzway_org_104 RENAME TO parked_104"],
        ["ALTER DATABASE parked_104 RENAME TO railzway_org_104"],
    ):
        assert_finding(fleet, 104, "database-missing")
    assert_clean(fleet)


@pytest.mark.parametrize("column", [column for _, column in ROLE_PRIVILEGE_FLAGS.values()])
def test_each_privilege_flag_on_a_tenant_role_is_a_finding(fleet: Fleet, column: str) -> None:
    revoke = ROLE_FLAG_TEXT[column][1]
    grant = revoke.removeprefix("NO")
    with fleet.broken([f"ALTER ROLE railzway_user_101 {grant}"], [f"ALTER ROLE railzway_user_101 {revoke}"]):
        assert_finding(fleet, 101, "role-privileged")
        problem = next(f["problem"] for f in fleet.audit().json()["findings"] if f["code"] == "role-privileged")
        assert ROLE_FLAG_TEXT[column][0] in problem
    assert_clean(fleet)


def test_a_terminated_tenants_role_that_can_log_in_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(["ALTER ROLE railzway_user_104 LOGIN"], ["ALTER ROLE railzway_user_104 NOLOGIN"]):
        assert_finding(fleet, 104, "terminated-role-login")
    assert_clean(fleet)


def test_a_database_owned_by_another_role_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER DATABASE railzway_org_102 OWNER TO railzway_user_101"],
        ["ALTER DATABASE railzway_org_102 OWNER TO railzway_user_102"],
    ):
        assert_finding(fleet, 102, "database-owner")
    assert_clean(fleet)


@pytest.mark.parametrize("privilege", ["CONNECT", "TEMPORARY"])
def test_a_privilege_held_by_public_is_a_finding(fleet: Fleet, privilege: str) -> None:
    with fleet.broken(
        [f"GRANT {privilege} ON DATABASE railzway_org_103 TO PUBLIC"],
        ["REVOKE ALL ON DATABASE railzway_org_103 FROM PUBLIC"],
    ):
        assert_finding(fleet, 103, "public-privileges")
        problem = next(f["problem"] for f in fleet.audit().json()["findings"] if f["code"] == "public-privileges")
        assert privilege in problem
    assert_clean(fleet)


def test_another_role_granted_connect_is_a_finding_naming_it(fleet: Fleet) -> None:
    with fleet.broken(
        ["CREATE ROLE analyst LOGIN", "GRANT CONNECT ON DATABASE railzway_org_101 TO analyst"],
        ["REVOKE CONNECT ON DATABASE railzway_org_101 FROM analyst", "DROP ROLE analyst"],
    ):
        assert_finding(fleet, 101, "foreign-connect")
        finding = next(f for f in fleet.audit().json()["findings"] if f["code"] == "foreign-connect")
        assert "analyst" in finding["problem"]
        assert finding["fix"] == 'REVOKE CONNECT ON DATABASE "railzway_org_101" FROM "analyst"'
    assert_clean(fleet)


def test_connect_arriving_through_role_membership_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(
        [
            "CREATE ROLE readers NOLOGIN",
            "GRANT CONNECT ON DATABASE railzway_org_201 TO readers",
            "CREATE ROLE intruder LOGIN IN ROLE readers",
        ],
        ["DROP ROLE intruder", "REVOKE CONNECT ON DATABASE railzway_org_201 FROM readers", "DROP ROLE readers"],
    ):
        outcome = fleet.audit()
        assert outcome.code == 1
        problems = [f["problem"] for f in outcome.json()["findings"] if f["code"] == "foreign-connect"]
        assert any(p.startswith("role intruder ") for p in problems), problems
        assert all(f["org_id"] == 201 for f in outcome.json()["findings"])
    assert_clean(fleet)


def test_another_tenants_role_able_to_connect_is_named_with_its_org(fleet: Fleet) -> None:
    with fleet.broken(
        ["GRANT CONNECT ON DATABASE railzway_org_102 TO railzway_user_201"],
        ["REVOKE CONNECT ON DATABASE railzway_org_102 FROM railzway_user_201"],
    ):
        assert_finding(fleet, 102, "foreign-connect")
        finding = next(f for f in fleet.audit().json()["findings"] if f["code"] == "foreign-connect")
        assert "org 201's role" in finding["problem"]
    assert_clean(fleet)


def test_a_tenant_role_member_of_another_tenants_role_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(
        ["GRANT railzway_user_102 TO railzway_user_101"], ["REVOKE railzway_user_102 FROM railzway_user_101"]
    ):
        assert_finding(fleet, 101, "tenant-membership")
        # The membership also hands 101 the owner's CONNECT on 102's database.
        assert_finding(fleet, 102, "foreign-connect")
    assert_clean(fleet)


def test_a_tenant_role_member_of_a_superuser_role_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(
        ["CREATE ROLE admins SUPERUSER NOLOGIN", "GRANT admins TO railzway_user_103"], ["DROP ROLE admins"]
    ):
        assert_finding(fleet, 103, "privileged-membership")
    assert_clean(fleet)


def test_a_tenant_role_member_of_a_builtin_role_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(
        ["GRANT pg_read_server_files TO railzway_user_103"], ["REVOKE pg_read_server_files FROM railzway_user_103"]
    ):
        assert_finding(fleet, 103, "builtin-membership")
    assert_clean(fleet)


def test_a_tenant_database_marked_as_template_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER DATABASE railzway_org_101 IS_TEMPLATE true"], ["ALTER DATABASE railzway_org_101 IS_TEMPLATE false"]
    ):
        assert_finding(fleet, 101, "database-template")
    assert_clean(fleet)


def test_an_orphan_database_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(["CREATE DATABASE railzway_org_9001 TEMPLATE template0"], ["DROP DATABASE railzway_org_9001"]):
        assert_finding(fleet, 9001, "orphan-database")
    assert_clean(fleet)


def test_an_orphan_role_is_a_finding(fleet: Fleet) -> None:
    with fleet.broken(["CREATE ROLE railzway_user_9002 LOGIN"], ["DROP ROLE railzway_user_9002"]):
        assert_finding(fleet, 9002, "orphan-role")
    assert_clean(fleet)


def test_the_audit_words_every_privilege_flag_the_spec_turns_off() -> None:
    # A flag added to the spec without its words would reach operators as a bare pg_roles column name.
    assert set(ROLE_FLAG_TEXT) == {column for _, column in ROLE_PRIVILEGE_FLAGS.values()}
