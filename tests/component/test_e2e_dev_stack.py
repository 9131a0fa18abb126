"""The program through the real Pulumi engine (Automation API), against the session's real PostgreSQL.

One stack for the module, in a `file://` backend under a temporary directory: `up`, a second `up` that
must change nothing, a `preview` that must show no diff, then the server itself is checked. The stack
has no Nomad (both regions point at the session's server), so it declares databases only.

The registry is a copy of the shipped one with org ids moved into a high range, because roles are
cluster-wide and other test modules use the same session server. Teardown destroys the stack, removes
it, and drops the roles and databases itself: `retain_on_delete` means `destroy` leaves them (which the
last test checks).
"""

from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pulumi import automation as auto

from devkit.localpg import LocalPostgres
from railzway.registry import naming
from railzway.registry.loader import load_registry
from railzway.registry.model import Registry
from railzway.registry.tenant_files import write_tenant
from railzway.tenant import spec
from tests.e2e_support import (
    drop_tenants,
    local_stack_config,
    remove_test_stack,
    stored_checkpoint,
    stored_files,
)

pytestmark = [
    pytest.mark.e2e,
]

PROJECT = Path(__file__).resolve().parents[2]
OFFSET = 970000
log = logging.getLogger(__name__)


def moved_registry(target: Path) -> Registry:
    shutil.copytree(PROJECT / "tenants", target)
    shipped = load_registry(target)
    for org_id, tenant in shipped.tenants.items():
        (target / "orgs" / f"{org_id}.yaml").unlink()
        write_tenant(target, tenant.model_copy(update={"org_id": org_id + OFFSET}))
    return load_registry(target)


class Deployed:
    def __init__(self, stack: auto.Stack, registry: Registry, up: auto.UpResult, backend: Path) -> None:
        self.stack, self.registry, self.up, self.backend = stack, registry, up, backend

    @property
    def tenants(self) -> dict[str, Any]:
        value = self.up.outputs["tenants"].value
        assert isinstance(value, dict)
        return value


@pytest.fixture(scope="module")
def deployed(postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    work = tmp_path_factory.mktemp("e2e")
    registry = moved_registry(work / "tenants")
    org_ids = sorted(registry.tenants)
    stack_name = f"e2e-{secrets.token_hex(3)}"
    env = {
        "PULUMI_BACKEND_URL": f"file://{work / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    (work / "backend").mkdir()
    drop_tenants(postgres, org_ids)
    stack = auto.create_or_select_stack(
        stack_name=stack_name, work_dir=str(PROJECT), opts=auto.LocalWorkspaceOptions(env_vars=env)
    )
    try:
        config = local_stack_config(postgres, work / "tenants")
        stack.set_all_config(config, path=True)
        up = stack.up(on_output=log.info)
        yield Deployed(stack, registry, up, work / "backend")
    finally:
        try:
            remove_test_stack(stack)
        finally:
            drop_tenants(postgres, org_ids)


def test_up_succeeds_and_exports_every_tenant(deployed: Deployed) -> None:
    assert deployed.up.summary.result == "succeeded"
    assert sorted(deployed.tenants) == sorted(str(org_id) for org_id in deployed.registry.tenants)


def test_no_tenant_has_a_job_without_nomad(deployed: Deployed) -> None:
    assert {entry["nomad_job_id"] for entry in deployed.tenants.values()} == {None}


def test_second_up_changes_nothing(deployed: Deployed) -> None:
    again = deployed.stack.up(on_output=log.info)
    assert set(again.summary.resource_changes or {}) == {"same"}


def test_preview_shows_no_diff(deployed: Deployed) -> None:
    preview = deployed.stack.preview(expect_no_changes=True, on_output=log.info)
    assert set(preview.change_summary) == {"same"}


def test_refresh_reads_every_resource_back_unchanged(deployed: Deployed) -> None:
    # The grant is read by connecting to its database: this also proves every tenant database, terminated
    # ones included, still accepts the admin's connections.
    refresh = deployed.stack.refresh(expect_no_changes=True, on_output=log.info)
    assert refresh.summary.result == "succeeded"


def test_state_holds_passwords_only_encrypted(deployed: Deployed) -> None:
    # The backend's own files, not `export_stack()` (which decrypts every secret, by design).
    checkpoint = stored_checkpoint(deployed.backend, deployed.stack.name)
    assert '"ciphertext"' in checkpoint
    for path, text in stored_files(deployed.backend).items():
        for org_id, entry in deployed.tenants.items():
            assert entry["db_password"] not in text, f"tenant {org_id}'s password in clear in {path}"


def test_roles_exist_with_every_privilege_off_and_login_by_status(deployed: Deployed, postgres: LocalPostgres) -> None:
    columns = [column for _, column in spec.ROLE_PRIVILEGE_FLAGS.values()]
    query = sql.SQL("SELECT rolcanlogin, rolconnlimit, {} FROM pg_roles WHERE rolname = %s").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with psycopg.connect(postgres.url()) as conn:
        for org_id, tenant in deployed.registry.tenants.items():
            row = conn.execute(query, (naming.role_name(org_id),)).fetchone()
            assert row is not None, org_id
            can_login, limit, *flags = row
            role = spec.role(org_id, tenant.status, deployed.registry.tier_of(tenant).connection_limit)
            # A terminated tenant's role: NOLOGIN and a limit of 0 (issue 13), not its tier's.
            assert (can_login, limit) == (role.login, role.connection_limit), org_id
            assert flags == [False] * len(columns), org_id


def test_databases_are_owned_by_their_role_and_closed_to_public(deployed: Deployed, postgres: LocalPostgres) -> None:
    with psycopg.connect(postgres.url()) as conn:
        for org_id in deployed.registry.tenants:
            row = conn.execute(
                "SELECT pg_get_userbyid(datdba), datallowconn, pg_encoding_to_char(encoding), datacl IS NOT NULL,"
                " (SELECT count(*) FROM aclexplode(datacl) a WHERE a.grantee = 0), datconnlimit"
                " FROM pg_database WHERE datname = %s",
                (naming.database_name(org_id),),
            ).fetchone()
            tenant = deployed.registry.tenants[org_id]
            limit = spec.database_connection_limit(tenant.status, deployed.registry.tier_of(tenant).connection_limit)
            assert row == (naming.role_name(org_id), True, "UTF8", True, 0, limit), org_id


def test_a_tenant_logs_in_to_its_own_database_with_the_exported_url(deployed: Deployed) -> None:
    org_id = next(o for o, t in sorted(deployed.registry.tenants.items()) if t.status == "running")
    with psycopg.connect(deployed.tenants[str(org_id)]["database_url"]) as conn:
        row = conn.execute("SELECT current_user, current_database()").fetchone()
    assert row == (naming.role_name(org_id), naming.database_name(org_id))


def test_a_terminated_tenant_cannot_log_in(deployed: Deployed, postgres: LocalPostgres) -> None:
    org_id = next(o for o, t in sorted(deployed.registry.tenants.items()) if t.status == "terminated")
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(deployed.tenants[str(org_id)]["database_url"]).close()


def test_a_tenant_cannot_connect_to_another_tenants_database(deployed: Deployed, postgres: LocalPostgres) -> None:
    first, second = [o for o, t in sorted(deployed.registry.tenants.items()) if t.status == "running"][:2]
    password = deployed.tenants[str(first)]["db_password"]
    url = postgres.url(naming.database_name(second), naming.role_name(first), password)
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(url).close()


def test_destroy_leaves_the_tenants_data(deployed: Deployed, postgres: LocalPostgres) -> None:
    # Last on purpose: it destroys the stack (teardown then has nothing left to destroy).
    deployed.stack.destroy(on_output=log.info)
    with psycopg.connect(postgres.url()) as conn:
        databases = {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'railzway_org_%'")}
    assert {naming.database_name(org_id) for org_id in deployed.registry.tenants} <= databases
