"""The Cloud DB kept in step by `pulumi up` itself: resource hooks on each tenant's resources.

The engine calls an after-create, after-update or after-delete hook in this program's process as soon as
one of those resources changed; the hook writes that tenant's row through the Cloud DB sync
(`railzway.clouddb.sync_tenants`, `partial=True`): the same validation, comparison, encryption and row as
`railzway sync`, from the same values the `tenants` stack output holds (the tenant's `TenantInstance`
outputs, secrets awaited, never logged). So a password rotated on the server is in the Cloud DB before the
`up` goes on, even when a later resource fails; and `railzway sync --stack` afterwards writes nothing.

- The role carries the hooks because that is where a password really changes on the server; the database
  and the job because their changes (status, a terminated tenant's job going away) are what the row shows;
  the `TenantInstance` itself because its inputs hold the row's other values (a version bump in a region
  without Nomad changes no resource). The hooks of one tenant write the same row: the first write changes
  it, the others find it equal.
- A delete of a tenant still declared (a terminated tenant's job, the old half of a replacement) writes its
  row as it is now. A delete of a tenant that left the stack does what the sync does for a tenant absent
  from the outputs: the row is kept, never deleted, and the program reports it.
- A hook that cannot write raises: the engine fails the `up` with `after hook "<name>" failed: org <id>: ...`
  (the resource itself is kept in the state), and `python -m railzway sync --stack NAME` repairs the row.
- Hooks run in parallel (an `up` of a shard fires hundreds): they share a few worker threads and one
  small connection pool; hooks that wait for a connection are written together in one transaction once
  one is free (see `RowWriter`), and every write takes the sync's per-row locks, not its table lock.
- The hooks are named, and always registered even when they are off: the engine finds the hooks of a
  deleted resource by the names stored in its state, and fails the `up` when a name is not registered.

Configuration: `RAILZWAY_CLOUD_DB_URL` and `RAILZWAY_CREDENTIALS_KEYS` in the environment of `pulumi up`, or
the secret stack config `railzway:cloudDbUrl` and `railzway:credentialsKeys`. Without both, the hooks are
off and the program says so once, naming what is missing.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
import pulumi
from psycopg_pool import ConnectionPool, PoolTimeout

from railzway.clouddb import (
    KEYS_ENV,
    URL_ENV,
    CloudDBUnavailable,
    CredentialsKeyError,
    KeyRing,
    MigrationError,
    OutputsError,
    SyncSummary,
    TenantOutput,
    connect,
    database_error,
    parse_keys,
    parse_outputs,
    require_current,
    sync_tenants,
)
from railzway.registry import naming

if TYPE_CHECKING:
    from components.tenant_instance import TenantInstance, TenantPart

AFTER_CREATE = "railzway-clouddb-after-create"
AFTER_UPDATE = "railzway-clouddb-after-update"
AFTER_DELETE = "railzway-clouddb-after-delete"
HOOK_NAMES = (AFTER_CREATE, AFTER_UPDATE, AFTER_DELETE)
# The parts of a tenant whose outputs the Cloud DB row holds.
ROW_PARTS: frozenset[str] = frozenset({"component", "role", "database", "job"})

URL_CONFIG = "cloudDbUrl"
KEYS_CONFIG = "credentialsKeys"
REPAIR = "python -m railzway sync --stack {stack}"

# Connections the hooks of one `up` share: enough to overlap the network round trips of a few writes; a
# shard's hundreds of hooks queue for them rather than open hundreds of sessions on the Cloud DB.
POOL_SIZE = 4
# How long one hook waits for a connection, and for the row locks, before it fails the `up`.
WAIT_SECONDS = 120


class CloudDBSettingsError(ValueError):
    """The Cloud DB's keys are malformed or not secret (the message holds no URL and no key)."""


class HalfConfigured(CloudDBSettingsError):
    """Only one of the URL and the keys is set: the hooks are off (a stack adopting tenants from the Go
    control plane reads their plain-text passwords with the URL alone, before its first sync)."""


@dataclass(frozen=True)
class CloudDBSettings:
    """Where the hooks write and with which keys; `source` says where the settings came from."""

    url: str = field(repr=False)
    keys: KeyRing
    source: str


def cloud_db_settings(
    environ: Mapping[str, str], config: Mapping[str, str | None], secret_config: Collection[str]
) -> CloudDBSettings | None:
    """The Cloud DB of this `up`, from the environment first, then the stack config; None when neither.

    `config` maps `cloudDbUrl`/`credentialsKeys` to their stack config values; `secret_config` names those
    that are secret. Raises HalfConfigured when only one of the two is set, naming the missing one.
    """
    url = environ.get(URL_ENV, "").strip() or (config.get(URL_CONFIG) or "").strip()
    keys_from_env = environ.get(KEYS_ENV, "").strip()
    keys_text = keys_from_env or (config.get(KEYS_CONFIG) or "").strip()
    if not url and not keys_text:
        return None
    names = f"{URL_ENV} (or railzway:{URL_CONFIG})", f"{KEYS_ENV} (or railzway:{KEYS_CONFIG})"
    if not url or not keys_text:
        missing, present = names if not url else names[::-1]
        raise HalfConfigured(f"{present} is set but {missing} is not")
    if not keys_from_env and KEYS_CONFIG not in secret_config:
        raise CloudDBSettingsError(
            f"railzway:{KEYS_CONFIG} holds encryption keys and must be secret: "
            f"pulumi config set --secret {KEYS_CONFIG} <keys>"
        )
    try:
        keys = parse_keys(keys_text, KEYS_ENV if keys_from_env else f"railzway:{KEYS_CONFIG}")
    except CredentialsKeyError as e:
        raise CloudDBSettingsError(str(e)) from None
    source = "environment" if environ.get(URL_ENV, "").strip() and keys_from_env else "stack configuration"
    return CloudDBSettings(url, keys, source)


class HookWriteError(RuntimeError):
    """A hook could not write its tenant's row; the message names the org and never holds a secret."""


class RowWriter:
    """Writes tenants' rows through the sync, on a small connection pool shared by all the hooks of an `up`.

    Blocking (psycopg): the hooks run it on `executor`, one thread per pooled connection, so a shard's
    hundreds of hooks wait there instead of holding the threads the SDK's own engine calls run on. Hooks that
    fire while every connection is busy are written together, in one transaction of the sync, as soon as a
    connection is free (group commit): a burst costs a few transactions, a lone hook is written at once.
    The pool opens on the first write, so a program whose hooks never fire (a preview, no change) never
    connects.
    """

    def __init__(
        self, settings: CloudDBSettings, stack: str, pool_size: int = POOL_SIZE, wait_seconds: float = WAIT_SECONDS
    ) -> None:
        self._settings = settings
        self._stack = stack
        self._wait_seconds = wait_seconds
        self.pool_size = pool_size
        self._pool = ConnectionPool(
            settings.url,
            min_size=1,
            max_size=pool_size,
            open=False,
            timeout=wait_seconds,
            kwargs={"application_name": f"railzway up {stack}", "connect_timeout": 10},
            name="railzway-clouddb-hooks",
        )
        self._opened = False
        self._open_lock = threading.Lock()
        self._written: dict[int, TenantOutput] = {}
        self._batches: _Batches | None = None
        self.executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="railzway-clouddb-hook")

    @property
    def stack(self) -> str:
        return self._stack

    def check(self) -> None:
        """Fail before any resource changes when the Cloud DB cannot take the writes (down, not migrated)."""
        with connect(self._settings.url, application_name=f"railzway up {self._stack}") as conn:
            try:
                require_current(conn)
            except psycopg.Error as e:
                raise CloudDBUnavailable(f"the Cloud DB could not be checked: {database_error(e)}") from None

    @staticmethod
    def validate(entry: Mapping[str, Any]) -> TenantOutput:
        """One tenant's `tenants` output entry, validated as the sync validates it; raises HookWriteError."""
        try:
            return parse_outputs({"tenants": {str(entry.get("org_id")): dict(entry)}})[0]
        except OutputsError as e:
            raise HookWriteError("; ".join(e.problems)) from None

    def write(self, entry: Mapping[str, Any]) -> SyncSummary | None:
        """Validate one entry and write its row now (blocking); see `write_many`."""
        return self.write_many([self.validate(entry)])

    def write_many(self, tenants: Sequence[TenantOutput]) -> SyncSummary | None:
        """Upsert these tenants' rows in one transaction of the sync (`partial`); raises HookWriteError.

        Tenants this writer already wrote exactly so during this `up` are left out: the other hooks of a
        tenant (its role, database, job and component fire one after the other) then cost no round trip.
        None when that leaves nothing to write.
        """
        fresh = [t for t in tenants if self._written.get(t.org_id) != t]
        if not fresh:
            return None
        try:
            self._open()
            with self._pool.connection() as conn:
                summary = sync_tenants(
                    conn,
                    fresh,
                    self._settings.keys,
                    stack=self._stack,
                    partial=True,
                    lock_timeout_ms=int(self._wait_seconds * 1000),
                )
        except PoolTimeout:
            reason = f"no Cloud DB connection within {self._wait_seconds:g} s (is it reachable?)"
        except (CloudDBUnavailable, MigrationError) as e:
            reason = str(e)
        except psycopg.Error as e:
            reason = f"the Cloud DB refused the write: {database_error(e)}"
        else:
            self._written.update((t.org_id, t) for t in fresh)
            return summary
        raise HookWriteError(reason)

    async def submit(self, tenant: TenantOutput) -> None:
        """Write one tenant's row from a hook, with whatever other hooks are waiting; raises HookWriteError."""
        loop = asyncio.get_running_loop()
        if self._batches is None or self._batches.loop is not loop:
            self._batches = _Batches(self, loop)
        await self._batches.submit(tenant)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        with self._open_lock:
            if self._opened:
                self._pool.close()
                self._opened = False

    def _open(self) -> None:
        with self._open_lock:
            if not self._opened:
                self._pool.open(wait=False)
                self._opened = True
                atexit.register(self.close)


# The most tenants one transaction of the hooks writes (a burst beyond it takes several).
BATCH_MAX = 100


class _Batches:
    """The hooks waiting to be written, in the event loop the hooks run in (the program's one loop)."""

    def __init__(self, writer: RowWriter, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._writer = writer
        self._waiting: list[tuple[TenantOutput, asyncio.Future[None]]] = []
        self._running = 0

    def submit(self, tenant: TenantOutput) -> asyncio.Future[None]:
        done: asyncio.Future[None] = self.loop.create_future()
        self._waiting.append((tenant, done))
        self._start()
        return done

    def _start(self) -> None:
        while self._waiting and self._running < self._writer.pool_size:
            batch: list[tuple[TenantOutput, asyncio.Future[None]]] = []
            later: list[tuple[TenantOutput, asyncio.Future[None]]] = []
            orgs: set[int] = set()
            for item in self._waiting:
                # One row once per transaction: a tenant's second hook waits for the next one.
                if item[0].org_id in orgs or len(batch) >= BATCH_MAX:
                    later.append(item)
                else:
                    orgs.add(item[0].org_id)
                    batch.append(item)
            self._waiting = later
            self._running += 1
            work = self.loop.run_in_executor(self._writer.executor, self._writer.write_many, [t for t, _ in batch])
            work.add_done_callback(functools.partial(self._finished, batch))

    def _finished(
        self, batch: list[tuple[TenantOutput, asyncio.Future[None]]], work: asyncio.Future[SyncSummary | None]
    ) -> None:
        self._running -= 1
        error = work.exception()
        if error is not None and not isinstance(error, HookWriteError):
            # Unexpected: say what it was, never its message (it could quote a value).
            error = HookWriteError(f"unexpected {type(error).__name__} while writing")
        for _, done in batch:
            if done.done():
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
        self._start()


Reporter = Callable[[str], None]


class TenantOutputs(Protocol):
    """What a hook needs of a tenant: its org id and its entry of the `tenants` output (`TenantInstance`)."""

    @property
    def org_id(self) -> int: ...

    def outputs(self) -> dict[str, Any]: ...


class RowHooks:
    """The hook functions: what the engine calls, with `ResourceHookArgs`, after a tenant's resource changed.

    `writer` None means the hooks are off: nothing is written, and the delete of a tenant that left the
    stack is only reported (a resource deployed with the hooks on may be deleted by an `up` without them).
    """

    def __init__(self, writer: RowWriter | None, report: Reporter = pulumi.log.info) -> None:
        self.writer = writer
        self._report = report
        self._tenants: dict[int, TenantOutputs] = {}
        self._reported: set[int] = set()

    def track(self, tenant: TenantOutputs) -> None:
        """A tenant this program declares: its row is written from `tenant.outputs()` when a hook fires."""
        self._tenants[tenant.org_id] = tenant

    async def after_write(self, args: pulumi.ResourceHookArgs) -> None:
        """After a create or an update: write the tenant's row as the stack output now shows it."""
        org_id, part = _tenant_part(args)
        tenant = self._tenants.get(org_id)
        if self.writer is None or tenant is None:
            raise HookWriteError(f"org {org_id}: its {part} is not one this program declared with the Cloud DB hooks")
        await self._write(org_id, part, tenant)

    async def after_delete(self, args: pulumi.ResourceHookArgs) -> None:
        """After a delete: rewrite a tenant still declared; keep and report the row of one that left."""
        org_id, part = _tenant_part(args)
        tenant = self._tenants.get(org_id)
        if tenant is not None:
            # Still declared: a terminated tenant's job, the old half of a replacement.
            if self.writer is not None:
                await self._write(org_id, part, tenant)
            return
        if org_id in self._reported:
            return
        self._reported.add(org_id)
        if self.writer is None:
            self._report(f"org {org_id}: left the stack; the Cloud DB hooks are off, its row was not looked at")
        else:
            self._report(
                f"org {org_id}: left stack {self.writer.stack}: its Cloud DB row is kept (never deleted), "
                "as the sync keeps a tenant absent from the outputs"
            )

    async def _write(self, org_id: int, part: str, tenant: TenantOutputs) -> None:
        assert self.writer is not None
        entry = {key: await _resolved(value) for key, value in tenant.outputs().items()}
        try:
            await self.writer.submit(self.writer.validate(entry))
        except HookWriteError as e:
            raise HookWriteError(
                f"org {org_id}: its {part} is deployed but its Cloud DB row was not written: {e}; "
                f"run `{REPAIR.format(stack=self.writer.stack)}` once the Cloud DB takes writes"
            ) from None


class CloudDBHooks:
    """The Cloud DB row hooks of one program run, registered with the engine; `bind` them to a tenant's parts.

    Registered even when off: see the module docstring.
    """

    def __init__(self, rows: RowHooks) -> None:
        self.rows = rows
        self.after_create = pulumi.ResourceHook(AFTER_CREATE, rows.after_write)
        self.after_update = pulumi.ResourceHook(AFTER_UPDATE, rows.after_write)
        self.after_delete = pulumi.ResourceHook(AFTER_DELETE, rows.after_delete)

    @property
    def enabled(self) -> bool:
        return self.rows.writer is not None

    def bind(self, instance: TenantInstance, part: TenantPart) -> pulumi.ResourceHookBinding | None:
        """The hooks of one of a tenant's resources (None for parts the row does not hold, or when off)."""
        if part not in ROW_PARTS:
            return None
        self.rows.track(instance)  # even when off: a delete hook of a tenant still declared is no departure
        if not self.enabled:
            return None
        return pulumi.ResourceHookBinding(
            after_create=[self.after_create], after_update=[self.after_update], after_delete=[self.after_delete]
        )


def hooks_from_environment(
    stack: str,
    environ: Mapping[str, str],
    config: Mapping[str, str | None],
    secret_config: Collection[str],
    *,
    check: bool,
    report: Reporter = pulumi.log.info,
) -> CloudDBHooks:
    """The program's Cloud DB hooks, on when a Cloud DB is configured (then checked first when `check`).

    Off, said once, without a Cloud DB, with half of one, or with one whose schema is not current. Raises
    CloudDBSettingsError (malformed or non-secret keys), or CloudDBUnavailable when the Cloud DB does not
    answer: an `up` that could not keep it in step fails before it changes anything.
    """
    try:
        settings = cloud_db_settings(environ, config, secret_config)
        why = f"{URL_ENV} and {KEYS_ENV} are not set, nor railzway:{URL_CONFIG} and railzway:{KEYS_CONFIG}"
    except HalfConfigured as e:
        settings, why = None, str(e)
    if settings is None:
        report(f"Cloud DB hooks are off ({why}): run `{REPAIR.format(stack=stack)}` after `pulumi up`")
        return CloudDBHooks(RowHooks(None, report))
    writer = RowWriter(settings, stack)
    if check:
        try:
            writer.check()
        except MigrationError as e:
            # As before the hooks: an `up` needs no migrated Cloud DB (a stack adopting tenants deploys them
            # before its Cloud DB is migrated); the sync afterwards refuses until it is.
            report(f"Cloud DB hooks are off ({e}): run `{REPAIR.format(stack=stack)}` after migrating")
            return CloudDBHooks(RowHooks(None, report))
    return CloudDBHooks(RowHooks(writer, report))


def _tenant_part(args: pulumi.ResourceHookArgs) -> tuple[int, str]:
    """The org id and part of a tenant's resource, from its logical name (`org-<id>[-<part>]`)."""
    org_id = naming.org_id_of_resource(args.name)
    if org_id is not None:
        return org_id, "component"
    base, _, part = args.name.rpartition("-")
    org_id = naming.org_id_of_resource(base)
    if org_id is None:
        raise HookWriteError(f"resource {args.name!r} is not one of a tenant's resources")
    return org_id, part


async def _resolved(value: Any) -> Any:
    return await value.future() if isinstance(value, pulumi.Output) else value


__all__ = [
    "AFTER_CREATE",
    "AFTER_DELETE",
    "AFTER_UPDATE",
    "HOOK_NAMES",
    "KEYS_CONFIG",
    "ROW_PARTS",
    "URL_CONFIG",
    "CloudDBHooks",
    "CloudDBSettings",
    "CloudDBSettingsError",
    "HalfConfigured",
    "HookWriteError",
    "RowHooks",
    "RowWriter",
    "TenantOutputs",
    "cloud_db_settings",
    "hooks_from_environment",
]
