"""Issue 13 through the real engine: the escalation replayed, and a terminated tenant's open session.

Runs when the `pulumi` CLI and its postgresql/random plugins are on PATH, against the session's server.
The stack is driven as an operator runs `pulumi up` by hand: through `auto.create_or_select_stack`, not
`AutomationStacks`, so no `PGOPTIONS` protects the provider's sessions and the region set-up of the
provisioning admin (README.md) is the defence under test.

Engine behaviour relied on (issue 13, the engine transcripts and the Pulumi docs on resource hooks):
removing a tenant from the registry makes `up` delete its `revoke-public` grant, which the provider does
inside the tenant's database as the admin; roles and databases are `retain_on_delete`; an `after_update`
hook runs during `up`, in the program's process, and its exception fails the `up`.
"""

from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from pulumi import automation as auto

from devkit.localpg import LocalPostgres
from railzway.registry import naming
from railzway.registry.loader import load_registry, tenant_path
from railzway.registry.tenant_files import write_tenant
from tests.conftest import PROJECT, SHIPPED_REGISTRY
from tests.e2e_support import drop_tenants, local_stack_config, remove_test_stack

pytestmark = [pytest.mark.e2e]

log = logging.getLogger(__name__)
ATTACKER, NEIGHBOUR, LEAVER = 600001, 600002, 600003

# The issue's attack, verbatim.
ISSUE_ATTACK = (
    "create schema trap",
    """create function trap.escalate() returns void language plpgsql as $$
begin
  if (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
    execute 'alter role railzway_user_600001 superuser';
  end if;
end $$""",
    "create function trap.pg_advisory_xact_lock(bigint) returns void language plpgsql as\n"
    "  $$ begin perform trap.escalate(); perform pg_catalog.pg_advisory_xact_lock($1); end $$",
    "alter database railzway_org_600001 set search_path = trap, pg_catalog, public",
)


@dataclass
class Deployed:
    server: LocalPostgres
    stack: auto.Stack
    registry_dir: Path

    def password(self, org_id: int) -> str:
        tenants = self.stack.outputs()["tenants"].value
        assert isinstance(tenants, dict)
        return str(tenants[str(org_id)]["db_password"])

    def tenant_url(self, org_id: int, password: str) -> str:
        return self.server.url(naming.database_name(org_id), naming.role_name(org_id), password)

    def rolsuper(self, org_id: int) -> bool:
        with psycopg.connect(self.server.url(), autocommit=True) as conn:
            row = conn.execute(
                "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = %s", (naming.role_name(org_id),)
            ).fetchone()
        assert row is not None
        return bool(row[0])


def three_tenants(target: Path) -> Path:
    """The shipped catalogues with three running eu-west tenants on shard 0."""
    shutil.copytree(SHIPPED_REGISTRY, target)
    shipped = load_registry(target)
    template = shipped.tenants[1001]
    for org_id in shipped.tenants:
        tenant_path(target, org_id).unlink()
    for org_id in (ATTACKER, NEIGHBOUR, LEAVER):
        write_tenant(target, template.model_copy(update={"org_id": org_id, "tier": "starter"}))
    return target


@pytest.fixture(scope="module")
def deployed(postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    work = tmp_path_factory.mktemp("escalation")
    registry_dir = three_tenants(work / "tenants")
    (work / "backend").mkdir()
    env = {
        "PULUMI_BACKEND_URL": f"file://{work / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    orgs = (ATTACKER, NEIGHBOUR, LEAVER)
    drop_tenants(postgres, orgs)
    stack = auto.create_or_select_stack(
        stack_name=f"e2e-esc-{secrets.token_hex(3)}",
        work_dir=str(PROJECT),
        opts=auto.LocalWorkspaceOptions(env_vars=env),
    )
    try:
        stack.set_all_config(local_stack_config(postgres, registry_dir, ["eu-west"]), path=True)
        stack.up(on_output=log.info)
        yield Deployed(postgres, stack, registry_dir)
    finally:
        try:
            remove_test_stack(stack)
        finally:
            drop_tenants(postgres, orgs)


def test_the_issues_attack_then_removal_and_up_leave_the_tenant_without_superuser(deployed: Deployed) -> None:
    with psycopg.connect(deployed.tenant_url(ATTACKER, deployed.password(ATTACKER)), autocommit=True) as conn:
        for statement in ISSUE_ATTACK:
            conn.execute(statement.encode())
    tenant_path(deployed.registry_dir, ATTACKER).unlink()

    up = deployed.stack.up(on_output=log.info)

    changes = {getattr(op, "value", str(op)): n for op, n in (up.summary.resource_changes or {}).items()}
    assert up.summary.result == "succeeded"
    assert changes.get("delete", 0) >= 3, changes  # the component, its password and its grant at least
    assert deployed.rolsuper(ATTACKER) is False


def test_terminating_ends_the_tenants_open_session_and_leaves_it_no_way_back_in(deployed: Deployed) -> None:
    password = deployed.password(NEIGHBOUR)
    session = psycopg.connect(deployed.tenant_url(NEIGHBOUR, password), autocommit=True)
    registry = load_registry(deployed.registry_dir)
    write_tenant(deployed.registry_dir, registry.tenants[NEIGHBOUR].model_copy(update={"status": "terminated"}))
    try:
        deployed.stack.up(on_output=log.info)
        with pytest.raises(psycopg.OperationalError):
            session.execute("SELECT 1")
    finally:
        session.close()
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(deployed.tenant_url(NEIGHBOUR, password)).close()
    with psycopg.connect(deployed.server.url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT rolcanlogin, rolvaliduntil = '-infinity', rolconnlimit FROM pg_catalog.pg_roles WHERE rolname = %s",
            (naming.role_name(NEIGHBOUR),),
        ).fetchone()
    assert row == (False, True, 0)


def test_a_terminated_tenant_then_removed_keeps_its_data_and_stays_locked_out(deployed: Deployed) -> None:
    # After the previous test: NEIGHBOUR is terminated, so it may now leave the registry.
    tenant_path(deployed.registry_dir, NEIGHBOUR).unlink()
    deployed.stack.up(on_output=log.info)
    with psycopg.connect(deployed.server.url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT r.rolcanlogin, r.rolvaliduntil = '-infinity', pg_catalog.pg_get_userbyid(d.datdba) "
            "FROM pg_catalog.pg_roles r, pg_catalog.pg_database d WHERE r.rolname = %s AND d.datname = %s",
            (naming.role_name(NEIGHBOUR), naming.database_name(NEIGHBOUR)),
        ).fetchone()
    assert row == (False, True, naming.role_name(NEIGHBOUR))


def test_the_program_refuses_an_admin_without_the_region_set_up(
    postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory
) -> None:
    work = tmp_path_factory.mktemp("refused")
    registry_dir = three_tenants(work / "tenants")
    (work / "backend").mkdir()
    env = {
        "PULUMI_BACKEND_URL": f"file://{work / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    stack = auto.create_or_select_stack(
        stack_name=f"e2e-refused-{secrets.token_hex(3)}",
        work_dir=str(PROJECT),
        opts=auto.LocalWorkspaceOptions(env_vars=env),
    )
    try:
        config = local_stack_config(postgres, registry_dir, ["eu-west"])
        config["railzway:regions.eu-west.postgres.username"] = auto.ConfigValue(postgres.superuser)
        stack.set_all_config(config, path=True)
        with pytest.raises(auto.CommandError) as refused:
            stack.preview(on_output=log.info)
        assert "railzway:regions.eu-west.postgres: refusing to run the postgresql provider as postgres@" in str(
            refused.value
        )
        assert postgres.password not in str(refused.value)
    finally:
        remove_test_stack(stack)
