"""A plain `pulumi up` keeps the Cloud DB in step by itself: the program's resource hooks, with the real engine.

Runs when the `pulumi` CLI and its postgresql/random plugins are on PATH. The module deploys two tenants of
its own (org ids 7301 and 7302, region eu-west without Nomad) on the session's PostgreSQL, with a migrated
Cloud DB and its keys in the environment of `up` (so the hooks are on), and never calls `sync` until the
end. In order, as an operator would:

1. `up` from empty: every tenant's row is there, with the password the server has;
2. a password rotation: the row holds the new password once the `up` is done;
3. a termination: the row says terminated (the component's update carries it);
4. a tenant removed from the registry: its row is kept as it was, and the `up` says so;
5. `sync --stack` afterwards writes nothing: the hooks wrote what it would;
6. a rotation while the Cloud DB refuses writes: the `up` fails naming the hook and the tenant, the row
   keeps the old password (a following `up` has no change, so no hook fires), and `sync --stack` repairs it.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pulumi import automation as auto

from devkit.localpg import LocalPostgres
from railzway import clouddb
from railzway.clouddb import KeyRing, generate_key, parse_keys
from tests.conftest import PROJECT, SHIPPED_REGISTRY
from tests.e2e_support import drop_tenants, local_stack_config, remove_test_stack

pytestmark = [
    pytest.mark.e2e,
]

log = logging.getLogger(__name__)
ROTATED = 7301
REMOVED = 7302
ORGS = (ROTATED, REMOVED)
ROW = "SELECT org_id, status, tier, current_version, db_name, db_user, source_stack FROM instances ORDER BY org_id"


def tenant_file(org_id: int, rotation: str = "initial", status: str = "running") -> str:
    return (
        f'org_id: {org_id}\ntier: starter\nversion: "1.8.2"\nstatus: {status}\nregion: eu-west\nshard: 0\n'
        f'password_rotation: "{rotation}"\n'
    )


@dataclass
class Hooked:
    stack: auto.Stack
    registry_dir: Path
    cloud_db: str
    keys: KeyRing
    env: dict[str, str]

    def write(self, org_id: int, **fields: str) -> None:
        (self.registry_dir / "orgs" / f"{org_id}.yaml").write_text(tenant_file(org_id, **fields))

    def up(self) -> auto.UpResult:
        return self.stack.up(on_output=log.info)

    def outputs(self) -> dict[str, Any]:
        value = self.stack.outputs()["tenants"].value
        assert isinstance(value, dict)
        return value

    def rows(self) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.cloud_db) as conn:
            return conn.execute(ROW).fetchall()

    def password(self, org_id: int) -> str:
        with psycopg.connect(self.cloud_db) as conn:
            return clouddb.credentials(conn, self.keys, [org_id])[org_id].password

    def sync(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "railzway", "sync", "--stack", self.stack.name],
            cwd=PROJECT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=300,
        )


@pytest.fixture(scope="module")
def hooked(postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hooked]:
    work = tmp_path_factory.mktemp("hooks")
    registry_dir = work / "tenants"
    (registry_dir / "orgs").mkdir(parents=True)
    for catalogue in ("tiers.yaml", "regions.yaml"):
        (registry_dir / catalogue).write_text((SHIPPED_REGISTRY / catalogue).read_text())
    for org_id in ORGS:
        (registry_dir / "orgs" / f"{org_id}.yaml").write_text(tenant_file(org_id))
    (work / "backend").mkdir()
    cloud_db_name = f"hooks_{secrets.token_hex(4)}"
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cloud_db_name)))
    cloud_db = postgres.url(cloud_db_name)
    with psycopg.connect(cloud_db) as conn:
        clouddb.migrate(conn)
    key = generate_key()
    env = {
        "PULUMI_BACKEND_URL": f"file://{work / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "RAILZWAY_CLOUD_DB_URL": cloud_db,
        "RAILZWAY_CREDENTIALS_KEYS": key,
    }
    drop_tenants(postgres, ORGS)
    stack = auto.create_or_select_stack(
        stack_name=f"e2e-hooks-{secrets.token_hex(3)}",
        work_dir=str(PROJECT),
        opts=auto.LocalWorkspaceOptions(env_vars=env),
    )
    try:
        stack.set_all_config(local_stack_config(postgres, registry_dir), path=True)
        yield Hooked(stack, registry_dir, cloud_db, parse_keys(key), env)
    finally:
        try:
            remove_test_stack(stack)
        finally:
            drop_tenants(postgres, ORGS)
            with psycopg.connect(postgres.url(), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(cloud_db_name)))


def test_a_plain_up_writes_every_tenants_row_without_a_sync(hooked: Hooked) -> None:
    hooked.up()
    stack = hooked.stack.name
    assert hooked.rows() == [
        (org_id, "running", "starter", "1.8.2", f"railzway_org_{org_id}", f"railzway_user_{org_id}", stack)
        for org_id in ORGS
    ]
    for org_id in ORGS:
        assert hooked.password(org_id) == hooked.outputs()[str(org_id)]["db_password"]


def test_a_rotation_puts_the_new_password_in_the_cloud_db_during_the_up(hooked: Hooked) -> None:
    old = hooked.password(ROTATED)
    hooked.write(ROTATED, rotation="e2e-rotation-1")
    hooked.up()
    new = hooked.outputs()[str(ROTATED)]["db_password"]
    assert new != old
    assert hooked.password(ROTATED) == new


def test_a_termination_reaches_the_row(hooked: Hooked) -> None:
    hooked.write(REMOVED, status="terminated")
    hooked.up()
    assert [row[:2] for row in hooked.rows()] == [(ROTATED, "running"), (REMOVED, "terminated")]


def test_a_tenant_removed_from_the_registry_keeps_its_row_and_the_up_says_so(hooked: Hooked) -> None:
    before = hooked.rows()
    (hooked.registry_dir / "orgs" / f"{REMOVED}.yaml").unlink()
    up = hooked.up()
    assert hooked.rows() == before
    assert f"org {REMOVED}: left stack {hooked.stack.name}: its Cloud DB row is kept (never deleted)" in up.stdout


def test_a_sync_after_the_hooked_ups_writes_nothing(hooked: Hooked) -> None:
    result = hooked.sync()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "synced 1 tenant: 0 inserted, 0 updated, 1 unchanged, 1 absent"


def test_a_hook_that_cannot_write_fails_the_up_and_the_sync_repairs_the_row(hooked: Hooked) -> None:
    old = hooked.password(ROTATED)
    with psycopg.connect(hooked.cloud_db, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN RAISE EXCEPTION 'the Cloud DB is read-only for maintenance'; END$$"
        )
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON instances FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
    hooked.write(ROTATED, rotation="e2e-rotation-2")
    with pytest.raises(auto.CommandError) as failed:
        hooked.up()
    message = str(failed.value)
    assert 'after hook "railzway-clouddb-after-update" failed: org 7301: its role is deployed' in message
    assert "the Cloud DB is read-only for maintenance" in message
    assert f"python -m railzway sync --stack {hooked.stack.name}" in message
    with psycopg.connect(hooked.cloud_db, autocommit=True) as conn:
        conn.execute("DROP TRIGGER refuse ON instances")

    hooked.up()  # the role already has its new password: no change, so no hook fires
    new = hooked.outputs()[str(ROTATED)]["db_password"]
    assert new != old
    assert new not in message
    assert hooked.password(ROTATED) == old

    repair = hooked.sync()
    assert repair.returncode == 0, repair.stderr
    assert repair.stdout.splitlines()[0] == "synced 1 tenant: 0 inserted, 1 updated, 0 unchanged, 1 absent"
    assert hooked.password(ROTATED) == new
