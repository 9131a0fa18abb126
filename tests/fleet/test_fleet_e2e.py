"""A fleet of two shard stacks through the real engine, against the session's real PostgreSQL.

One module-scoped fleet in a `file://` backend under a temporary directory: a registry of four tenants in
two shards of one region (databases only: no Nomad), `up` on both stacks in parallel by the fleet runner
with the Cloud DB sync after each, then a preview that must change nothing, a move of one tenant between
the stacks with `pulumi state move`, and the refusal of a move while a stack is locked.

Roles are cluster-wide and other modules use the same server, so the org ids are in a range of their own;
teardown destroys both stacks, removes them and their config files, and drops the roles and databases
(`retain_on_delete` leaves them behind on destroy).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fleet_fakes import PROJECT, write_registry
from psycopg import sql

from devkit.localpg import LocalPostgres
from railzway import clouddb
from railzway.engine.stacks import AutomationStacks, StackRef
from railzway.fleet import FleetReport, MoveRefused, execute_move, plan_move, run_fleet
from railzway.fleet.clouddb_hook import clouddb_sync
from railzway.registry.loader import load_registry
from railzway.registry.shards import ShardStack
from tests.e2e_support import drop_tenants, local_stack_config, remove_test_stack

pytestmark = [
    pytest.mark.e2e,
]

log = logging.getLogger(__name__)
ORGS = {985001: 0, 985002: 0, 985003: 1, 985004: 1}


@dataclass
class Fleet:
    engine: AutomationStacks
    registry_dir: Path
    environment: str
    refs: list[StackRef]
    report: FleetReport
    cloud_db: str
    backend: Path


@pytest.fixture(scope="module")
def fleet(postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    work = tmp_path_factory.mktemp("fleet-e2e")
    registry_dir = write_registry(
        work, [{"org_id": org, "shard": shard} for org, shard in ORGS.items()], regions={"eu-west": 2}
    )
    backend = work / "backend"
    backend.mkdir()
    environment = f"e2e{secrets.token_hex(3)}"
    env = {
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    cloud_db_name = f"fleet_{secrets.token_hex(4)}"
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cloud_db_name)))
    cloud_db = postgres.url(cloud_db_name)
    with psycopg.connect(cloud_db) as conn:
        clouddb.migrate(conn)
    drop_tenants(postgres, ORGS)

    engine = AutomationStacks(PROJECT, env_vars=env)
    refs = [StackRef.of(ShardStack(environment, "eu-west", shard)) for shard in (0, 1)]
    try:
        for ref in refs:
            # The endpoints are the operator's per-stack configuration; the fleet sets `railzway:shards`.
            engine.select(ref).set_all_config(local_stack_config(postgres, registry_dir, ["eu-west"]), path=True)
        keys = clouddb.parse_keys(clouddb.generate_key())
        report = run_fleet(refs, "up", engine, parallel=2, after_up=clouddb_sync(cloud_db, keys))
        yield Fleet(engine, registry_dir, environment, refs, report, cloud_db, backend)
    finally:
        try:
            for ref in refs:
                remove_test_stack(engine.select(StackRef(ref.name)))
        finally:
            drop_tenants(postgres, ORGS)
            with psycopg.connect(postgres.url(), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(cloud_db_name)))


def test_up_succeeds_on_both_shard_stacks(fleet: Fleet) -> None:
    assert fleet.report.failed == [], [o.error for o in fleet.report.outcomes]
    assert [o.stack for o in fleet.report.outcomes] == [ref.name for ref in fleet.refs]


def test_each_stack_created_only_its_own_tenants(fleet: Fleet) -> None:
    for ref, shard in zip(fleet.refs, (0, 1), strict=True):
        outputs = fleet.engine.outputs(ref)
        assert sorted(outputs["tenants"]) == sorted(str(o) for o, s in ORGS.items() if s == shard), ref.name


def test_the_stacks_config_names_its_shard(fleet: Fleet) -> None:
    for ref in fleet.refs:
        value = fleet.engine.select(StackRef(ref.name)).get_config("railzway:shards").value
        assert json.loads(value) == list(ref.shards or ()), ref.name


def test_the_cloud_db_holds_every_tenant_labelled_with_its_stack(fleet: Fleet) -> None:
    with psycopg.connect(fleet.cloud_db) as conn:
        rows: dict[int, str] = dict(conn.execute("SELECT org_id, source_stack FROM instances").fetchall())
    assert rows == {org: fleet.refs[shard].name for org, shard in ORGS.items()}


def test_a_preview_of_the_fleet_changes_nothing(fleet: Fleet) -> None:
    report = run_fleet(fleet.refs, "preview", fleet.engine, parallel=2)
    assert report.ok
    assert [o.changes.changed if o.changes else None for o in report.outcomes] == [0, 0]


def test_a_move_is_refused_while_the_destination_is_locked(fleet: Fleet) -> None:
    lock_dir = fleet.backend / ".pulumi" / "locks" / "organization" / "railzway" / fleet.refs[1].name
    lock_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_dir / "e2e-test.json"
    lock.write_text(json.dumps({"pid": 1, "username": "ci", "hostname": "runner", "timestamp": "2026-11-25T00:00:00Z"}))
    try:
        with pytest.raises(MoveRefused, match=f"stack {fleet.refs[1].name} is locked"):
            plan_move(load_registry(fleet.registry_dir), 985001, 1, fleet.environment, fleet.engine, {})
    finally:
        lock.unlink()


def test_a_moved_tenant_lives_in_its_new_stack_with_nothing_to_change(fleet: Fleet) -> None:
    # Last on purpose: it changes the registry and both stacks' state.
    plan = plan_move(load_registry(fleet.registry_dir), 985001, 1, fleet.environment, fleet.engine, {})
    execute_move(plan, fleet.registry_dir, fleet.engine)
    assert load_registry(fleet.registry_dir).tenants[985001].shard == 1
    source_urns = {r["urn"] for r in fleet.engine.resources(fleet.refs[0])}
    dest_urns = {r["urn"] for r in fleet.engine.resources(fleet.refs[1])}
    assert not any("org-985001" in urn for urn in source_urns)
    assert any(urn.endswith("::org-985001") for urn in dest_urns)
    report = run_fleet(fleet.refs, "preview", fleet.engine, parallel=2)
    assert [o.changes.changed if o.changes else None for o in report.outcomes] == [0, 0]
