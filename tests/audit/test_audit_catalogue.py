"""The catalogue reader: a fixed number of statements whatever the fleet's size (counted by the server
itself, from its statement log), and what the snapshot holds."""

from __future__ import annotations

import re
import secrets

import psycopg
import pytest
from audit_fleet import Fleet, TenantSpec, provision, run_cli

from railzway.audit.catalogue import read_catalogue
from railzway.audit.inside import INSIDE_APPLICATION
from railzway.audit.run import AUDIT_APPLICATION, REPORT_APPLICATION


@pytest.fixture(scope="module")
def logged(fleet: Fleet) -> Fleet:
    """The fleet's server logging every statement with the client's application name in front."""
    fleet.sql(
        "ALTER SYSTEM SET log_statement = 'all'", "ALTER SYSTEM SET log_line_prefix = '%a|'", "SELECT pg_reload_conf()"
    )
    return fleet


def statements_logged(fleet: Fleet, application: str) -> int:
    log = (fleet.server.data_dir.parent / "server.log").read_text(errors="replace")
    # Simple queries log as "statement:", parameterised ones (extended protocol) as "execute <name>:".
    logged = re.compile(rf"^{re.escape(application)}\|LOG:  (statement|execute [^:]*): ")
    return sum(1 for line in log.splitlines() if logged.match(line))


def test_the_audit_sends_the_same_statements_for_5_and_for_15_tenants(logged: Fleet) -> None:
    before = statements_logged(logged, AUDIT_APPLICATION)
    assert logged.audit().code == 0
    small = statements_logged(logged, AUDIT_APPLICATION) - before
    with psycopg.connect(logged.url, autocommit=True) as conn:
        for org_id in range(5001, 5011):
            provision(conn, TenantSpec(org_id, "starter", "running", "eu-west"), secrets.token_urlsafe(24))
    try:
        before = statements_logged(logged, AUDIT_APPLICATION)
        outcome = logged.audit()
        large = statements_logged(logged, AUDIT_APPLICATION) - before
    finally:
        logged.sql(
            *(f"DROP DATABASE railzway_org_{org_id}" for org_id in range(5001, 5011)),
            *(f"DROP ROLE railzway_user_{org_id}" for org_id in range(5001, 5011)),
        )
    assert len([f for f in outcome.json()["findings"] if f["code"] == "orphan-database"]) == 10
    assert small == large == outcome.json()["statements"] == 11


def test_the_look_inside_sends_one_statement_per_tenant_database(logged: Fleet) -> None:
    before = statements_logged(logged, INSIDE_APPLICATION)
    outcome = logged.audit()
    assert statements_logged(logged, INSIDE_APPLICATION) - before == outcome.json()["inside_statements"] == 5


def test_the_report_reads_everything_in_one_statement(logged: Fleet) -> None:
    before = statements_logged(logged, REPORT_APPLICATION)
    assert (
        run_cli("report", "--admin-url", logged.url, "--registry", str(logged.registry), "--format", "json").code == 0
    )
    assert statements_logged(logged, REPORT_APPLICATION) - before == 1


def test_each_tenant_database_is_reachable_by_its_own_role_only(fleet: Fleet) -> None:
    with psycopg.connect(fleet.url, autocommit=True) as conn:
        snapshot = read_catalogue(conn)
    assert snapshot.connectors == {
        "railzway_org_101": frozenset({"railzway_user_101"}),
        "railzway_org_102": frozenset({"railzway_user_102"}),
        "railzway_org_103": frozenset({"railzway_user_103"}),
        "railzway_org_104": frozenset({"railzway_user_104"}),
        "railzway_org_201": frozenset({"railzway_user_201"}),
    }


def test_a_database_open_to_public_is_left_out_of_the_connect_matrix(fleet: Fleet) -> None:
    with fleet.broken(
        ["GRANT CONNECT ON DATABASE railzway_org_101 TO PUBLIC"],
        ["REVOKE ALL ON DATABASE railzway_org_101 FROM PUBLIC"],
    ):
        with psycopg.connect(fleet.url, autocommit=True) as conn:
            snapshot = read_catalogue(conn)
    assert "railzway_org_101" not in snapshot.connectors
    assert snapshot.databases["railzway_org_101"].public_privileges == frozenset({"CONNECT"})


def test_memberships_are_followed_through_group_roles(fleet: Fleet) -> None:
    with fleet.broken(
        ["CREATE ROLE bridge NOLOGIN", "GRANT bridge TO railzway_user_101", "GRANT railzway_user_201 TO bridge"],
        ["DROP ROLE bridge"],
    ):
        with psycopg.connect(fleet.url, autocommit=True) as conn:
            snapshot = read_catalogue(conn)
    chains = {(m.member, m.role): m.depth for m in snapshot.memberships}
    assert chains == {("railzway_user_101", "bridge"): 1, ("railzway_user_101", "railzway_user_201"): 2}


def test_role_rows_carry_the_shared_privilege_flags(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER ROLE railzway_user_103 CREATEROLE BYPASSRLS"], ["ALTER ROLE railzway_user_103 NOCREATEROLE NOBYPASSRLS"]
    ):
        with psycopg.connect(fleet.url, autocommit=True) as conn:
            role = read_catalogue(conn).roles["railzway_user_103"]
    assert role.privileges == frozenset({"rolcreaterole", "rolbypassrls"})
    assert (role.can_login, role.connection_limit, role.superuser) == (True, 5, False)
