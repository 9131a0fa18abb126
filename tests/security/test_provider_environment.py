"""The engine runs of the fleet runner and the service give the provider `PGOPTIONS` that pin its sessions."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from tenant_trap import ISSUE_ATTACK, Tenant, admin_role, hostile_tenant, provider_writes_the_grant

from devkit.localpg import LocalPostgres
from railzway.admin import session_rules as admin_rules
from railzway.engine.stacks import workspace_env

PINNED = (
    "-c search_path=pg_catalog,pg_temp -c role=none -c default_transaction_read_only=off -c statement_timeout=0 "
    "-c lock_timeout=0 -c idle_in_transaction_session_timeout=0 -c local_preload_libraries="
)


def test_a_workspace_without_pgoptions_gets_the_pinned_settings() -> None:
    assert workspace_env({"PULUMI_BACKEND_URL": "file:///x"}, {}) == {
        "PULUMI_BACKEND_URL": "file:///x",
        "PGOPTIONS": PINNED,
    }


def test_the_callers_pgoptions_are_kept_and_ours_come_after_them() -> None:
    env = workspace_env(None, {"PGOPTIONS": "-c search_path=public -c work_mem=64MB"})
    assert env == {"PGOPTIONS": f"-c search_path=public -c work_mem=64MB {PINNED}"}


def test_the_workspaces_own_pgoptions_beat_the_process_environment() -> None:
    env = workspace_env({"PGOPTIONS": "-c work_mem=1MB"}, {"PGOPTIONS": "-c work_mem=2MB"})
    assert env["PGOPTIONS"] == f"-c work_mem=1MB {PINNED}"


@pytest.fixture
def tenant(postgres: LocalPostgres) -> Iterator[Tenant]:
    with hostile_tenant(postgres) as made:
        yield made


def test_a_driver_honouring_the_workspaces_pgoptions_does_not_escalate(
    postgres: LocalPostgres, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # libpq reads PGOPTIONS as the provider's driver does; the admin has no role-level set-up.
    tenant.run(*ISSUE_ATTACK)
    with admin_role(postgres, pinned=False) as admin:
        monkeypatch.setenv(admin_rules.OPTIONS_ENV, workspace_env({}, os.environ)[admin_rules.OPTIONS_ENV])
        with psycopg.connect(postgres.url(tenant.database, admin, postgres.password)) as conn:
            provider_writes_the_grant(conn, tenant.database)
    assert not tenant.is_superuser()
