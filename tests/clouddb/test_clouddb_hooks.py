"""The Cloud DB hooks of `pulumi up`, called as the engine calls them, against the real test PostgreSQL.

Each test hands the hook functions `ResourceHookArgs` shaped like the engine's (the resource's logical name,
type, id, and its inputs/outputs with secrets as secret `Output`s), for tenants whose outputs are the
`TenantInstance` entry of the `tenants` stack output (secrets as secret `Output`s, as the component holds
them). The rows they write must be the rows `railzway sync` writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
import pulumi
import pytest
from clouddb_data import dump, outputs, tenant

from components.clouddb_hooks import (
    CloudDBSettings,
    HookWriteError,
    RowHooks,
    RowWriter,
)
from railzway import clouddb
from railzway.clouddb import KeyRing, SyncSummary
from railzway.clouddb.sync import WRITE_LOCK

STACK = "prod-eu-west-01"
TYPES = {
    "role": "postgresql:index/role:Role",
    "database": "postgresql:index/database:Database",
    "job": "nomad:index/job:Job",
    "component": "railzway:index:TenantInstance",
}
SECRET_OUTPUTS = ("db_password", "database_url")


@dataclass
class Declared:
    """A tenant as the program declared it: its `tenants` output entry, the secrets as secret Outputs."""

    values: dict[str, Any]
    org_id: int = field(init=False)

    def __post_init__(self) -> None:
        self.org_id = int(self.values["org_id"])

    def outputs(self) -> dict[str, Any]:
        return {
            key: pulumi.Output.secret(value) if key in SECRET_OUTPUTS else value for key, value in self.values.items()
        }


def engine_args(org_id: int, part: str, event: str, password: str = "") -> pulumi.ResourceHookArgs:
    """What the engine hands an after-`event` hook of one of a tenant's resources."""
    name = f"org-{org_id}" if part == "component" else f"org-{org_id}-{part}"
    urn = f"urn:pulumi:{STACK}::railzway::railzway:index:TenantInstance${TYPES[part]}::{name}"
    state: dict[str, Any] = {"name": name}
    if part == "role":
        state = {"name": f"railzway_user_{org_id}", "login": True, "password": pulumi.Output.secret(password)}
    new = None if event == "delete" else state
    old = None if event == "create" else state
    return pulumi.ResourceHookArgs(
        urn=urn,
        id=f"railzway_user_{org_id}" if part == "role" else name,
        name=name,
        type=TYPES[part],
        new_inputs=new,
        old_inputs=old,
        new_outputs=new,
        old_outputs=old,
    )


@pytest.fixture
def settings(cloud_db: str, keys: KeyRing) -> CloudDBSettings:
    return CloudDBSettings(cloud_db, keys, "test")


@pytest.fixture
def writer(settings: CloudDBSettings) -> Iterator[RowWriter]:
    row_writer = RowWriter(settings, STACK, pool_size=2, wait_seconds=5)
    yield row_writer
    row_writer.close()


@pytest.fixture
def reports() -> list[str]:
    return []


@pytest.fixture
def hooks(writer: RowWriter, reports: list[str]) -> RowHooks:
    return RowHooks(writer, reports.append)


def declare(hooks: RowHooks, *values: dict[str, Any]) -> None:
    for one in values:
        hooks.track(Declared(one))


Hook = Callable[[pulumi.ResourceHookArgs], Awaitable[None]]
T = TypeVar("T")


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """Run in a loop of its own, as the program's loop runs hooks; unlike `asyncio.run` it leaves the main
    thread's default loop alone, which Pulumi's mocks (`devkit.mockrun`) use in later tests."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(work)
    finally:
        loop.close()


def fire(hook: Hook, org_id: int, part: str, event: str, password: str = "") -> None:
    """Call a hook as the engine does, in an event loop (the program's, in a real `up`)."""

    async def call() -> None:
        await hook(engine_args(org_id, part, event, password))

    run_async(call())


def after_create(hooks: RowHooks, org_id: int, part: str) -> None:
    fire(hooks.after_write, org_id, part, "create", tenant(org_id)["db_password"])


def refuse_writes(conn: psycopg.Connection) -> None:
    """The Cloud DB refuses every write to `instances`, as a server in maintenance or a revoked grant would."""
    conn.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'the Cloud DB is read-only for maintenance'; END$$"
    )
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON instances FOR EACH ROW EXECUTE FUNCTION refuse()")


def test_the_roles_after_create_writes_the_row_the_sync_would_write(
    hooks: RowHooks, conn: psycopg.Connection, keys: KeyRing
) -> None:
    declare(hooks, tenant(1001))
    after_create(hooks, 1001, "role")
    written = dump(conn)
    summary = clouddb.sync(conn, outputs(tenant(1001)), keys, stack=STACK)
    assert summary == SyncSummary(inserted=0, updated=0, unchanged=1)
    assert dump(conn) == written
    assert clouddb.credentials(conn, keys)[1001].password == tenant(1001)["db_password"]
    assert conn.execute("SELECT source_stack, status FROM instances").fetchall() == [(STACK, "running")]


def test_a_tenants_hooks_after_the_first_find_its_row_equal_and_write_nothing(
    hooks: RowHooks, conn: psycopg.Connection
) -> None:
    declare(hooks, tenant(1001))
    after_create(hooks, 1001, "role")
    written = dump(conn)
    for part in ("database", "job", "component"):
        after_create(hooks, 1001, part)
    assert dump(conn) == written  # same ctid and xmin: the row was not rewritten


def test_a_rotation_the_role_reports_rewrites_the_password(
    hooks: RowHooks, conn: psycopg.Connection, keys: KeyRing
) -> None:
    declare(hooks, tenant(1001))
    after_create(hooks, 1001, "role")
    rotated = tenant(1001, password="rotated-" + "r" * 24)
    declare(hooks, rotated)
    fire(hooks.after_write, 1001, "role", "update", rotated["db_password"])
    assert clouddb.credentials(conn, keys)[1001].password == rotated["db_password"]


def test_a_terminated_tenants_job_deleted_leaves_its_row_without_a_job(
    hooks: RowHooks, conn: psycopg.Connection
) -> None:
    declare(hooks, tenant(1001))
    after_create(hooks, 1001, "job")
    declare(hooks, tenant(1001, status="terminated", nomad_job_id=None))
    fire(hooks.after_delete, 1001, "job", "delete")
    assert conn.execute("SELECT status, nomad_job_id, compute_engine FROM instances").fetchall() == [
        ("terminated", None, None)
    ]


def test_a_tenant_that_left_the_stack_keeps_its_row_and_is_reported_once(
    hooks: RowHooks, conn: psycopg.Connection, keys: KeyRing, writer: RowWriter, reports: list[str]
) -> None:
    writer.write(tenant(1002))  # deployed by an earlier `up`; this program no longer declares org 1002
    before = dump(conn)
    for part in ("job", "database", "role", "component"):
        fire(hooks.after_delete, 1002, part, "delete")
    assert dump(conn) == before
    assert reports == [
        f"org 1002: left stack {STACK}: its Cloud DB row is kept (never deleted), "
        "as the sync keeps a tenant absent from the outputs"
    ]
    assert clouddb.sync(conn, outputs(), keys, stack=STACK).absent == (1002,)


def test_hundreds_of_hooks_at_once_share_the_small_pool_and_write_every_row(
    hooks: RowHooks, conn: psycopg.Connection, keys: KeyRing
) -> None:
    fleet = [tenant(5000 + i) for i in range(200)]
    declare(hooks, *fleet)

    async def up() -> None:
        await asyncio.gather(
            *(
                hooks.after_write(engine_args(t["org_id"], part, "create", t["db_password"]))
                for t in fleet
                for part in ("role", "database", "job")
            )
        )

    run_async(up())
    assert clouddb.sync(conn, outputs(*fleet), keys, stack=STACK) == SyncSummary(0, 0, 200)


def test_a_hook_that_cannot_write_names_the_tenant_and_the_repair_and_no_secret(
    hooks: RowHooks, conn: psycopg.Connection, cloud_db: str
) -> None:
    refuse_writes(conn)
    declare(hooks, tenant(1001))
    with pytest.raises(HookWriteError) as raised:
        after_create(hooks, 1001, "role")
    message = str(raised.value)
    assert message == (
        "org 1001: its role is deployed but its Cloud DB row was not written: the Cloud DB refused the write: "
        "the Cloud DB is read-only for maintenance (SQLSTATE P0001); "
        f"run `python -m railzway sync --stack {STACK}` once the Cloud DB takes writes"
    )
    assert tenant(1001)["db_password"] not in message
    assert conn.execute("SELECT count(*) FROM instances").fetchone() == (0,)


def test_the_sync_repairs_what_a_failing_hook_left_and_the_hook_then_writes_nothing(
    hooks: RowHooks, conn: psycopg.Connection, keys: KeyRing
) -> None:
    declare(hooks, tenant(1001), tenant(1002))
    after_create(hooks, 1001, "role")  # before the Cloud DB started refusing writes
    refuse_writes(conn)
    with pytest.raises(HookWriteError, match=r"^org 1002: its role is deployed"):
        after_create(hooks, 1002, "role")
    conn.execute("DROP TRIGGER refuse ON instances")

    repair = clouddb.sync(conn, outputs(tenant(1001), tenant(1002)), keys, stack=STACK)

    assert repair == SyncSummary(inserted=1, updated=0, unchanged=1)
    assert clouddb.credentials(conn, keys)[1002].password == tenant(1002)["db_password"]
    repaired = dump(conn)
    after_create(hooks, 1002, "role")
    assert dump(conn) == repaired


def test_a_stuck_writer_fails_the_hook_after_its_wait_instead_of_hanging_the_up(
    settings: CloudDBSettings, cloud_db: str, reports: list[str]
) -> None:
    impatient = RowWriter(settings, STACK, pool_size=1, wait_seconds=0.3)
    hooks = RowHooks(impatient, reports.append)
    declare(hooks, tenant(1001))
    try:
        with psycopg.connect(cloud_db) as rekeying, rekeying.transaction():
            rekeying.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            with pytest.raises(HookWriteError, match="lock timeout"):
                after_create(hooks, 1001, "role")
    finally:
        impatient.close()


def test_outputs_that_the_sync_would_refuse_fail_the_hook_naming_the_field(
    hooks: RowHooks, conn: psycopg.Connection
) -> None:
    declare(hooks, tenant(1001, version="latest"))
    with pytest.raises(HookWriteError, match="org 1001: version: is not a pinned image tag"):
        after_create(hooks, 1001, "role")
    assert conn.execute("SELECT count(*) FROM instances").fetchone() == (0,)


def test_a_hook_on_a_resource_that_is_no_tenants_fails_clearly(hooks: RowHooks) -> None:
    args = pulumi.ResourceHookArgs(urn="urn:x", id="x", name="postgresql-eu-west", type="pulumi:providers:postgresql")
    with pytest.raises(HookWriteError, match="'postgresql-eu-west' is not one of a tenant's resources"):
        run_async(hooks.after_write(args))


def test_hooks_that_are_off_only_report_a_deleted_tenant(conn: psycopg.Connection, reports: list[str]) -> None:
    off = RowHooks(None, reports.append)
    fire(off.after_delete, 1002, "role", "delete")
    assert reports == ["org 1002: left the stack; the Cloud DB hooks are off, its row was not looked at"]
    assert conn.execute("SELECT count(*) FROM instances").fetchone() == (0,)


def test_in_a_burst_only_the_hook_of_the_tenant_with_bad_outputs_fails(
    hooks: RowHooks, conn: psycopg.Connection, keys: KeyRing
) -> None:
    fleet = [tenant(6000 + i) for i in range(30)]
    declare(hooks, *fleet, tenant(6999, db_port=0))

    async def up() -> list[BaseException | None]:
        return await asyncio.gather(
            *(hooks.after_write(engine_args(t["org_id"], "role", "create", "")) for t in [*fleet, tenant(6999)]),
            return_exceptions=True,
        )

    results = run_async(up())
    failed = [str(r) for r in results if r is not None]
    assert len(failed) == 1 and failed[0].startswith("org 6999: its role is deployed but its Cloud DB row")
    assert clouddb.sync(conn, outputs(*fleet), keys, stack=STACK).unchanged == 30


def test_in_a_burst_the_cloud_db_refused_every_hook_fails_naming_its_own_tenant(
    hooks: RowHooks, conn: psycopg.Connection
) -> None:
    refuse_writes(conn)
    fleet = [tenant(6000 + i) for i in range(30)]
    declare(hooks, *fleet)

    async def up() -> list[BaseException | None]:
        return await asyncio.gather(
            *(hooks.after_write(engine_args(t["org_id"], "job", "create", "")) for t in fleet),
            return_exceptions=True,
        )

    results = run_async(up())
    assert [str(r).split(":", 1)[0] for r in results] == [f"org {t['org_id']}" for t in fleet]
    assert all("the Cloud DB is read-only for maintenance" in str(r) for r in results)


def test_hooks_that_are_off_say_nothing_of_a_tenant_still_declared(reports: list[str]) -> None:
    off = RowHooks(None, reports.append)
    declare(off, tenant(1001, status="terminated", nomad_job_id=None))
    fire(off.after_delete, 1001, "job", "delete")
    assert reports == []
