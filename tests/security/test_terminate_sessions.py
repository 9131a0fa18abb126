"""Terminating a tenant ends the sessions it still has open (issue 13), on the real server.

The hook's function is called as the engine calls it after updating the role; before the fix an open
session kept reading, writing and could lift its database's connection limit.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pulumi
import pytest
from psycopg import sql
from tenant_trap import Tenant, hostile_tenant

from components.tenant_lockout import end_terminated_sessions
from devkit.localpg import LocalPostgres
from railzway.config.stack_config import PostgresEndpoint


@pytest.fixture
def tenant(postgres: LocalPostgres) -> Iterator[Tenant]:
    with hostile_tenant(postgres) as made:
        yield made


def endpoint(server: LocalPostgres) -> PostgresEndpoint:
    return PostgresEndpoint(
        host=server.host,
        tenant_host=server.host,
        port=server.port,
        username=server.superuser,
        sslmode="disable",
        password=server.password,
    )


def after_update(role: str, login: bool) -> pulumi.ResourceHookArgs:
    return pulumi.ResourceHookArgs(
        urn="urn:pulumi:dev::railzway::railzway:index:TenantInstance$postgresql:index/role:Role::org-1-role",
        id=role,
        name="org-1-role",
        type="postgresql:index/role:Role",
        new_outputs={"name": role, "login": login, "validUntil": "-infinity", "connectionLimit": 0},
    )


def lock_out(server: LocalPostgres, role: str) -> None:
    """What the provider's role update does for a terminated tenant."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} NOLOGIN VALID UNTIL '-infinity' CONNECTION LIMIT 0").format(sql.Identifier(role))
        )


def test_an_open_session_survives_the_role_update_alone(postgres: LocalPostgres, tenant: Tenant) -> None:
    with psycopg.connect(tenant.url(), autocommit=True) as session:
        lock_out(postgres, tenant.role)
        session.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT -1").format(sql.Identifier(tenant.database)))
        assert session.execute("SELECT 1").fetchone() == (1,)


def test_the_hook_ends_every_open_session_of_the_terminated_role(postgres: LocalPostgres, tenant: Tenant) -> None:
    sessions = [psycopg.connect(tenant.url(), autocommit=True) for _ in range(2)]
    try:
        lock_out(postgres, tenant.role)
        end_terminated_sessions(endpoint(postgres))(after_update(tenant.role, login=False))
        for session in sessions:
            with pytest.raises(psycopg.OperationalError):
                session.execute("SELECT 1")
    finally:
        for session in sessions:
            session.close()


def test_the_terminated_tenant_cannot_come_back_even_with_login_granted_again(
    postgres: LocalPostgres, tenant: Tenant
) -> None:
    lock_out(postgres, tenant.role)
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN CONNECTION LIMIT -1").format(sql.Identifier(tenant.role)))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(tenant.url()).close()


def test_the_hook_leaves_a_role_that_may_still_log_in_alone(postgres: LocalPostgres, tenant: Tenant) -> None:
    with psycopg.connect(tenant.url(), autocommit=True) as session:
        end_terminated_sessions(endpoint(postgres))(after_update(tenant.role, login=True))
        assert session.execute("SELECT 1").fetchone() == (1,)


def test_the_hook_fails_naming_the_role_and_the_fix_without_the_admin_password(
    postgres: LocalPostgres, tenant: Tenant
) -> None:
    wrong = endpoint(postgres).model_copy(update={"password": "not-the-admin-password"})
    with pytest.raises(RuntimeError) as failed:
        end_terminated_sessions(wrong)(after_update(tenant.role, login=False))
    assert str(failed.value).startswith(f"{tenant.role} is terminated but its open sessions could not be ended")
    assert "not-the-admin-password" not in str(failed.value)
