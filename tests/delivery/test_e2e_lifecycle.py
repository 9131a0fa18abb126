"""A tenant's life through the real engine: deploy, sync, audit, rotate a password, leave the registry.

Runs when the `pulumi` CLI and its postgresql/random plugins are on PATH. The module starts its own
PostgreSQL server (the audit looks at every `railzway_*` object on a server, so it must see only this
module's tenants), deploys a copy of the shipped registry to one stack in a `file://` backend, and then,
in order, as an operator would:

1. syncs the stack's outputs into a migrated Cloud DB and audits the server: clean;
2. rotates one tenant's password: exactly its password and its role change, its new password logs in;
3. removes one tenant from the registry: `up` deletes it from the state but the role and database stay,
   and the audit now names them as orphans (data we hold and no longer manage);
4. purges: a tenant still in the stack's state is refused; the removed one is purged after a final backup,
   a second purge does nothing, and the audit is clean again.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pulumi import automation as auto

from devkit.localpg import LocalPostgres
from railzway.registry import naming
from railzway.registry.loader import load_registry, tenant_path
from railzway.registry.tenant_files import write_tenant
from tests.conftest import PROJECT, SHIPPED_REGISTRY
from tests.e2e_support import local_stack_config, provisioner_url, remove_test_stack, stored_checkpoint, stored_files

pytestmark = [
    pytest.mark.e2e,
]

log = logging.getLogger(__name__)
ROTATED = 1001  # running, eu-west
REMOVED = 2002  # running, us-east


@dataclass
class Lifecycle:
    server: LocalPostgres
    stack: auto.Stack
    registry_dir: Path
    env: dict[str, str]

    def outputs(self) -> dict[str, Any]:
        value = self.stack.outputs()["tenants"].value
        assert isinstance(value, dict)
        return value

    def railzway(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "railzway", *args],
            cwd=PROJECT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=300,
        )

    def audit(self) -> subprocess.CompletedProcess[str]:
        return self.railzway(
            "audit",
            "--admin-url",
            provisioner_url(self.server),
            "--registry",
            str(self.registry_dir),
            "--format",
            "json",
        )


@pytest.fixture(scope="module")
def life(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lifecycle]:
    work = tmp_path_factory.mktemp("lifecycle")
    registry_dir = work / "tenants"
    shutil.copytree(SHIPPED_REGISTRY, registry_dir)
    (work / "backend").mkdir()
    stack_name = f"e2e-life-{secrets.token_hex(3)}"
    server = LocalPostgres().start()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE railzway_cloud")
    engine_env = {
        "PULUMI_BACKEND_URL": f"file://{work / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    env = {
        **engine_env,
        "RAILZWAY_CLOUD_DB_URL": server.url("railzway_cloud"),
        "RAILZWAY_CREDENTIALS_KEYS": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    # The engine does not get the Cloud DB: this is the way of working without the `up`'s Cloud DB hooks
    # (up, then `railzway sync`); tests/delivery/test_e2e_clouddb_hooks.py covers the hooked `up`.
    stack = auto.create_or_select_stack(
        stack_name=stack_name, work_dir=str(PROJECT), opts=auto.LocalWorkspaceOptions(env_vars=engine_env)
    )
    try:
        config = local_stack_config(server, registry_dir)
        stack.set_all_config(config, path=True)
        stack.up(on_output=log.info)
        yield Lifecycle(server, stack, registry_dir, env)
    finally:
        try:
            remove_test_stack(stack)
        finally:
            server.stop()


def changed_resources(stack: auto.Stack) -> set[tuple[str, str]]:
    """(operation, resource name) of every step a preview plans other than `same`."""
    steps: set[tuple[str, str]] = set()

    def collect(event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None and pre.metadata.op.value != "same":
            steps.add((pre.metadata.op.value, pre.metadata.urn.rsplit("::", 1)[-1]))

    stack.preview(on_event=collect, on_output=log.info)
    return steps


def test_sync_then_audit_is_clean(life: Lifecycle) -> None:
    migrate = life.railzway("migrate")
    sync = life.railzway("sync", "--stack", life.stack.name)
    audit = life.audit()
    assert migrate.returncode == 0, migrate.stderr
    assert sync.returncode == 0 and "8 inserted" in sync.stdout, sync.stdout + sync.stderr
    assert audit.returncode == 0, audit.stdout + audit.stderr
    for secret in (life.server.password, life.env["RAILZWAY_CREDENTIALS_KEYS"]):
        assert secret not in sync.stdout + sync.stderr + audit.stdout + audit.stderr


def test_a_password_rotation_changes_exactly_that_tenants_password_and_role(life: Lifecycle) -> None:
    old_url = life.outputs()[str(ROTATED)]["database_url"]
    registry = load_registry(life.registry_dir)
    write_tenant(life.registry_dir, registry.tenants[ROTATED].model_copy(update={"password_rotation": "e2e-rotation"}))

    planned = changed_resources(life.stack)
    life.stack.up(on_output=log.info)

    assert {name for _, name in planned} == {f"org-{ROTATED}-password", f"org-{ROTATED}-role"}
    assert {op for op, name in planned if name.endswith("-password")} <= {
        "create-replacement",
        "replace",
        "delete-replaced",
    }
    assert {op for op, name in planned if name.endswith("-role")} == {"update"}
    new_url = life.outputs()[str(ROTATED)]["database_url"]
    assert new_url != old_url
    with psycopg.connect(new_url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (naming.role_name(ROTATED),)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(old_url).close()


def test_a_tenant_removed_from_the_registry_keeps_its_role_database_and_rows(life: Lifecycle) -> None:
    with psycopg.connect(life.server.url(naming.database_name(REMOVED)), autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id int PRIMARY KEY)")
        conn.execute("INSERT INTO invoices SELECT generate_series(1, 100)")
    tenant_path(life.registry_dir, REMOVED).unlink()
    up = life.stack.up(on_output=log.info)

    # The engine's summary keys are OpType members or their string values, depending on the path.
    changes: dict[str, int] = {
        getattr(op, "value", str(op)): n for op, n in (up.summary.resource_changes or {}).items()
    }
    assert changes.get("delete", 0) >= 4, changes
    assert str(REMOVED) not in life.outputs()
    with psycopg.connect(life.server.url(), autocommit=True) as conn:
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (naming.database_name(REMOVED),)
        ).fetchone()
    with psycopg.connect(life.server.url(naming.database_name(REMOVED))) as conn:
        rows = conn.execute("SELECT count(*) FROM invoices").fetchone()
    assert owner == (naming.role_name(REMOVED),)
    assert rows == (100,)


def test_the_audit_names_the_removed_tenants_data_as_an_orphan(life: Lifecycle) -> None:
    audit = life.audit()
    findings = {(f["code"], f["org_id"]) for f in json.loads(audit.stdout)["findings"]}
    assert audit.returncode == 1
    assert findings == {("orphan-database", REMOVED), ("orphan-role", REMOVED)}


def test_outputs_never_hold_a_password_in_plain_text_in_the_state(life: Lifecycle) -> None:
    # The backend's own files, not `export_stack()` (which decrypts every secret, by design).
    backend = Path(life.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    checkpoint = stored_checkpoint(backend, life.stack.name)
    assert '"ciphertext"' in checkpoint
    for path, text in stored_files(backend).items():
        for org_id, tenant in life.outputs().items():
            assert tenant["db_password"] not in text, f"tenant {org_id}'s password in clear in {path}"


def purge(life: Lifecycle, org_id: int, store: Path) -> subprocess.CompletedProcess[str]:
    return life.railzway(
        "purge",
        "--org",
        str(org_id),
        "--confirm",
        str(org_id),
        "--admin-url",
        life.server.url(),
        "--registry",
        str(life.registry_dir),
        "--store",
        f"file://{store}",
    )


def test_purge_refuses_a_tenant_still_in_the_stacks_state(life: Lifecycle, tmp_path: Path) -> None:
    # Out of the registry but not yet applied: the stack's state still holds it, so it is no orphan.
    path = tenant_path(life.registry_dir, ROTATED)
    original = path.read_bytes()
    path.unlink()
    try:
        result = purge(life, ROTATED, tmp_path / "store")
    finally:
        path.write_bytes(original)
    assert result.returncode == 1, result.stdout + result.stderr
    # The stack may be listed by its fully qualified name (organization/railzway/<stack>) on this backend.
    assert f"org {ROTATED} is still in the state of stack(s) " in result.stderr
    assert life.stack.name in result.stderr
    with psycopg.connect(life.server.url()) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (naming.database_name(ROTATED),)).fetchone()


def test_purging_the_removed_tenant_takes_a_final_backup_and_the_audit_is_clean_again(
    life: Lifecycle, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    first = purge(life, REMOVED, store)
    second = purge(life, REMOVED, store)
    audit = life.audit()
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"purged org {REMOVED}" in first.stdout
    [dump] = list(store.glob(f"*/{REMOVED}/*.dump"))
    assert json.loads(dump.with_suffix(".json").read_text())["final"] is True
    assert second.returncode == 0 and "already purged" in second.stdout, second.stdout + second.stderr
    with psycopg.connect(life.server.url()) as conn:
        assert (
            conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (naming.role_name(REMOVED),)).fetchone() is None
        )
    assert audit.returncode == 0, audit.stdout + audit.stderr
