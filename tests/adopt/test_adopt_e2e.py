"""Adopting the Go control plane's fleet through the real engine (Automation API), as an operator would.

The module starts its own PostgreSQL (the audit looks at every `railzway_*` object on a server) and builds
on it exactly what the seed built: roles and databases from its SQL, a Cloud DB at version 4 with the
passwords in plain text. Then, in order: `adopt` writes the tenant files; the first `up` (with the policy
pack) imports every role and database and creates none; every tenant still logs in with its old password
and PUBLIC is revoked; a second `up` changes nothing; `migrate` + `sync` leave no plain-text password in the
Cloud DB and the audit is clean; an `up` after the sync imports nothing and changes nothing; and no seed
password is ever written into the backend's checkpoints.

No Nomad here (the region has none), so the job import and the variable are covered by the mocks tests.
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
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pulumi import automation as auto
from seed_fleet import BASE, SeedTenant, provision_like_the_seed, seed_cloud_db, seed_tenants

from devkit.localpg import LocalPostgres
from railzway.registry import naming
from tests.conftest import PROJECT, SHIPPED_REGISTRY
from tests.e2e_support import local_stack_config, remove_test_stack

pytestmark = [
    pytest.mark.e2e,
]

log = logging.getLogger(__name__)
ROLE_TYPE = "postgresql:index/role:Role"
DATABASE_TYPE = "postgresql:index/database:Database"
TERMINATED = BASE + 4


def adopt_args(server: LocalPostgres) -> list[str]:
    return ["--admin-url", f"eu-west={server.url()}", "--tier-map", "PRO=growth"]


TIER_LIMITS = {BASE + 1: 10, BASE + 2: 40, BASE + 3: 40, BASE + 4: 10}  # starter, PRO->growth, growth, starter


@dataclass
class Adoption:
    server: LocalPostgres
    fleet: list[SeedTenant]
    registry_dir: Path
    backend: Path
    stack: auto.Stack
    env: dict[str, str]
    adopt: subprocess.CompletedProcess[str]
    first_up: auto.UpResult
    first_ops: list[tuple[str, str, str]] = field(default_factory=list)
    """(op, type, name) of every step of the first up."""
    policy_events: list[Any] = field(default_factory=list)

    def railzway(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "railzway", *args],
            cwd=PROJECT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=300,
        )


def steps(stack: auto.Stack, ops: list[tuple[str, str, str]]) -> auto.UpResult:
    def collect(event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None:
            ops.append((pre.metadata.op.value, pre.metadata.type, pre.metadata.urn.rsplit("::", 1)[-1]))

    return stack.up(on_event=collect, on_output=log.info)


@pytest.fixture(scope="module")
def adoption(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Adoption]:
    work = tmp_path_factory.mktemp("adopt")
    registry_dir = work / "tenants"
    shutil.copytree(SHIPPED_REGISTRY, registry_dir)
    for path in (registry_dir / "orgs").glob("*.yaml"):
        path.unlink()  # only the adopted tenants: the seed's fleet is the whole fleet
    backend = work / "backend"
    backend.mkdir()
    fleet = seed_tenants()[:4]  # the four adoptable ones: running, upgrading, stopped, terminated
    server = LocalPostgres().start()
    stack: auto.Stack | None = None
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE railzway_cloud")
        provision_like_the_seed(server, fleet)
        seed_cloud_db(server.url("railzway_cloud"), fleet, server.host, server.port)
        env = {
            "PULUMI_BACKEND_URL": f"file://{backend}",
            "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "RAILZWAY_CLOUD_DB_URL": server.url("railzway_cloud"),
            "RAILZWAY_CREDENTIALS_KEYS": base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        adopt = subprocess.run(
            [sys.executable, "-m", "railzway", "adopt", "--registry", str(registry_dir), *adopt_args(server)],
            cwd=PROJECT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert adopt.returncode == 0, adopt.stdout + adopt.stderr
        stack = auto.create_or_select_stack(
            stack_name=f"e2e-adopt-{secrets.token_hex(3)}",
            work_dir=str(PROJECT),
            opts=auto.LocalWorkspaceOptions(env_vars=env),
        )
        stack.set_all_config(local_stack_config(server, registry_dir), path=True)
        ops: list[tuple[str, str, str]] = []
        policy_events: list[Any] = []

        def collect(event: auto.EngineEvent) -> None:
            pre = event.resource_pre_event
            if pre is not None:
                ops.append((pre.metadata.op.value, pre.metadata.type, pre.metadata.urn.rsplit("::", 1)[-1]))
            if event.policy_event is not None:
                policy_events.append(event.policy_event)

        first_up = stack.up(policy_packs=[str(PROJECT / "policy")], on_event=collect, on_output=log.info)
        yield Adoption(server, fleet, registry_dir, backend, stack, env, adopt, first_up, ops, policy_events)
    finally:
        try:
            if stack is not None:
                remove_test_stack(stack)
        finally:
            server.stop()


def test_the_first_up_imports_every_role_and_database_and_creates_none(adoption: Adoption) -> None:
    by_object: dict[str, set[str]] = {}
    for op, resource_type, name in adoption.first_ops:
        if resource_type in (ROLE_TYPE, DATABASE_TYPE):
            by_object.setdefault(name, set()).add(op)
    expected = {f"org-{t.org_id}-{part}" for t in adoption.fleet for part in ("role", "database")}
    assert set(by_object) == expected
    for name, ops in by_object.items():
        assert "import" in ops, name
        assert ops <= {"import", "update"}, (name, ops)
    assert not [s for s in adoption.first_ops if s[1] == "random:index/randomPassword:RandomPassword"]


def test_the_policy_pack_accepts_the_adopted_tenants(adoption: Adoption) -> None:
    reported = [(e.policy_name, e.resource_urn, e.message) for e in adoption.policy_events]
    assert reported == []


def test_every_tenant_still_logs_in_with_its_old_password(adoption: Adoption) -> None:
    for tenant in adoption.fleet:
        url = adoption.server.url(naming.database_name(tenant.org_id), naming.role_name(tenant.org_id), tenant.password)
        if tenant.org_id == TERMINATED:
            with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
                psycopg.connect(url).close()
            continue
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (naming.role_name(tenant.org_id),)


def test_public_is_revoked_and_the_tier_limits_applied(adoption: Adoption) -> None:
    with psycopg.connect(adoption.server.url(), autocommit=True) as conn:
        for tenant in adoption.fleet:
            database, role = naming.database_name(tenant.org_id), naming.role_name(tenant.org_id)
            public = conn.execute(
                "SELECT count(*) FROM pg_database AS d, aclexplode(d.datacl) AS a "
                "WHERE d.datname = %s AND a.grantee = 0",
                (database,),
            ).fetchone()
            acl = conn.execute("SELECT datacl IS NOT NULL FROM pg_database WHERE datname = %s", (database,)).fetchone()
            assert public == (0,) and acl == (True,), database
            limits = conn.execute(
                "SELECT r.rolconnlimit, d.datconnlimit, d.datdba::regrole::text FROM pg_roles AS r, pg_database AS d "
                "WHERE r.rolname = %s AND d.datname = %s",
                (role, database),
            ).fetchone()
            database_limit = 0 if tenant.org_id == TERMINATED else TIER_LIMITS[tenant.org_id]
            assert limits == (TIER_LIMITS[tenant.org_id], database_limit, role)


def test_a_second_up_changes_nothing(adoption: Adoption) -> None:
    result = adoption.stack.up(on_output=log.info)
    changes = Counter(result.summary.resource_changes or {})
    assert set(changes) == {"same"}, changes


def test_the_sync_leaves_no_plain_text_password_and_the_audit_is_clean(adoption: Adoption) -> None:
    migrate = adoption.railzway("migrate")
    sync = adoption.railzway("sync", "--stack", adoption.stack.name)
    audit = adoption.railzway(
        "audit", "--admin-url", adoption.server.url(), "--registry", str(adoption.registry_dir), "--format", "json"
    )
    assert migrate.returncode == 0, migrate.stderr
    assert sync.returncode == 0 and "4 updated" in sync.stdout, sync.stdout + sync.stderr
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert json.loads(audit.stdout)["findings"] == []
    with psycopg.connect(adoption.env["RAILZWAY_CLOUD_DB_URL"]) as conn:
        rows = conn.execute("SELECT org_id, db_password, db_password_key_id FROM instances ORDER BY org_id").fetchall()
    assert [row[0] for row in rows] == [t.org_id for t in adoption.fleet]
    assert all(key_id is not None for _, _, key_id in rows)
    stored = {password for _, password, _ in rows}
    assert not stored & {t.password for t in adoption.fleet}
    text = sync.stdout + sync.stderr + audit.stdout + audit.stderr + adoption.adopt.stdout + adoption.adopt.stderr
    assert all(t.password not in text for t in adoption.fleet)


def test_once_synced_an_up_imports_nothing_and_changes_nothing(adoption: Adoption) -> None:
    ops: list[tuple[str, str, str]] = []
    result = steps(adoption.stack, ops)
    assert set(Counter(result.summary.resource_changes or {})) == {"same"}
    assert {op for op, _, _ in ops} == {"same"}


def test_no_seed_password_is_ever_written_into_the_backend(adoption: Adoption) -> None:
    # Every checkpoint, backup and history file: an imported RandomPassword would have left its password
    # there in clear as the resource's `importID`.
    files = [path for path in adoption.backend.rglob("*") if path.is_file()]
    assert files
    for path in files:
        content = path.read_bytes()
        for tenant in adoption.fleet:
            assert tenant.password.encode() not in content, path
