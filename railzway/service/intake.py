"""Accepting a request: the tenant file and the queued request happen together, or neither does.

A file write cannot join a database transaction, so the order is chosen so that the only step left
after the file is written is the commit:

1. open a transaction and take the org's advisory lock (two requests for one org never interleave; the
   lock is held until commit, across every `serve` process);
2. an `Idempotency-Key` seen before returns that request, unchanged;
3. read the tenant, plan the change and validate it with the registry model: a rejection raises here,
   before anything was written, and the transaction rolls back;
4. take the stack's lock, insert the request row and defer the stack's job (same transaction);
5. write the tenant file atomically (temporary file, fsync, rename), remembering what it replaced;
6. commit. If the commit fails, the file is put back as it was (or removed, for a new tenant) and the
   caller gets 503: neither happened.

What remains is a crash of the process between the rename (5) and the commit (6). The database then
rolls the transaction back, and the file holds a valid, validated desired state that no request
describes. The caller never got a 202 (its connection died with us), so it retries with its
Idempotency-Key and the retry records the request, finding the file already as asked. Were it never
retried, the next update of that stack applies the file, as it would any edit to the registry. Writing the
file after the commit instead would leave the opposite window, a request accepted whose change was
never written, which a worker would report as applied: a lost request, the worse failure.

With a registry remote (`railzway.service.registry_commits`), step 3 and 5 become one: the change is
planned on the remote's latest branch head, committed (the request id in its message) and pushed before
the request row is inserted; a failed commit of the transaction reverts the pushed commit. A crash between
the push and the commit leaves the change on the branch with no request: the reconcile applies it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import procrastinate
import psycopg
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from railzway.engine.stacks import stack_for_tenant
from railzway.registry.access import RegistryAccess
from railzway.registry.git import GitError, Published
from railzway.service import request_store as store
from railzway.service.actions import Action, Change, Rejected, fingerprint, plan
from railzway.service.logs import for_requests
from railzway.service.queue import defer_stack
from railzway.service.registry_commits import RegistryCommits

log = logging.getLogger(__name__)


class IntakeUnavailable(Exception):
    """The request could not be recorded (Cloud DB down, registry unreadable); nothing changed."""


@dataclass(frozen=True)
class Accepted:
    request: store.RequestRecord
    replayed: bool
    """True when an earlier request with the same Idempotency-Key was returned."""


class Intake:
    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        queue: procrastinate.App,
        registry: RegistryAccess,
        stack_env: Mapping[str, str],
        *,
        commits: RegistryCommits | None = None,
    ) -> None:
        self._pool = pool
        self._queue = queue
        self._registry = registry
        self._stack_env = dict(stack_env)
        self._commits = commits

    async def submit(
        self, org_id: int, action: Action, body: BaseModel, idempotency_key: str | None = None
    ) -> Accepted:
        """Record the request and its change (see the module docstring); `Rejected` changes nothing."""
        request_id = uuid.uuid4()
        asked = fingerprint(org_id, action, body)
        undo: Callable[[], object] | None = None
        try:
            async with self._pool.connection() as conn:
                try:
                    async with conn.transaction():
                        await store.lock_org(conn, org_id)
                        if idempotency_key is not None:
                            earlier = await store.by_idempotency_key(conn, idempotency_key)
                            if earlier is not None:
                                return self._replay(earlier, asked)
                        current = await asyncio.to_thread(self._registry.tenant, org_id)
                        if current is None and action is Action.deploy:
                            await store.lock_placement(conn)
                        commit: Published | None = None
                        if self._commits is None:
                            change = await asyncio.to_thread(self._plan, action, org_id, current, body, str(request_id))
                        else:
                            change, published = await asyncio.to_thread(
                                self._commits.publish,
                                request_id,
                                str(action),
                                org_id,
                                lambda now: self._plan(action, org_id, now, body, str(request_id)),
                            )
                            commit = published
                            if published.commit is not None:
                                undo = self._revert_on_failure(request_id, action, org_id, published.commit)
                        stack = stack_for_tenant(change.tenant, self._stack_env)
                        await store.lock_stack(conn, stack.name)
                        record = await store.insert(
                            conn,
                            request_id=request_id,
                            org_id=org_id,
                            action=str(action),
                            params=body.model_dump(mode="json"),
                            stack=stack.name,
                            stack_shards=None if stack.shards is None else list(stack.shards),
                            idempotency_key=idempotency_key,
                            fingerprint=asked,
                            summary={
                                **change.summary(),
                                **({} if commit is None else {"commit": commit.commit, "head": commit.head}),
                            },
                        )
                        await defer_stack(self._queue, conn, stack.name)
                        if self._commits is None:
                            undo = await asyncio.to_thread(self._registry.write, change.tenant)
                except psycopg.errors.UniqueViolation:
                    # The same key arrived for another org at the same moment; the other one won.
                    if idempotency_key is None:
                        raise
                    async with conn.transaction():
                        earlier = await store.by_idempotency_key(conn, idempotency_key)
                    if earlier is None:
                        raise
                    if undo is not None:
                        await asyncio.to_thread(undo)
                    return self._replay(earlier, asked)
        except GitError as e:
            log.error("request for org %s could not be committed to the registry: %s", org_id, e)
            raise IntakeUnavailable(
                "the registry's git remote could not take the change; nothing changed, try again"
            ) from None
        except (psycopg.Error, procrastinate.exceptions.ConnectorException, OSError) as e:
            log.error("request for org %s could not be recorded: %s", org_id, type(e).__name__)
            if undo is None:
                raise IntakeUnavailable(
                    "the request could not be recorded (the Cloud DB did not answer); nothing changed"
                ) from None
            return await self._after_failed_commit(request_id, undo)
        except BaseException:
            if undo is not None:
                await asyncio.to_thread(undo)
            raise
        with for_requests([str(record.id)]):
            log.info(
                "accepted %s for org %s on stack %s",
                action,
                org_id,
                record.stack,
                extra={"org_id": org_id, "action": str(action), "stack": record.stack},
            )
        return Accepted(record, replayed=False)

    def _revert_on_failure(
        self, request_id: uuid.UUID, action: Action, org_id: int, commit: str
    ) -> Callable[[], object]:
        assert self._commits is not None
        commits = self._commits

        def revert() -> object:
            return commits.revert(request_id, str(action), org_id, commit, "the request could not be recorded")

        return revert

    async def _after_failed_commit(self, request_id: uuid.UUID, undo: Callable[[], object]) -> Accepted:
        """The file was written and the commit failed: find out whether the request exists after all.

        A commit whose answer was lost may still have happened. Putting the file back then would leave a
        queued request whose change was never written, so the file is only restored once a fresh
        connection shows the request is not there. Should that check fail too, the file stays: it is a
        valid desired state, and the caller's retry with its Idempotency-Key settles the rest.
        """
        try:
            async with self._pool.connection() as conn:
                found = await store.get(conn, request_id)
        except (psycopg.Error, OSError):
            log.error("cannot tell whether request %s was recorded; its tenant file is kept", request_id)
            raise IntakeUnavailable(
                "the Cloud DB failed while the request was being recorded, and it may or may not have been: "
                "retry with the same Idempotency-Key"
            ) from None
        if found is None:
            await asyncio.to_thread(undo)
            raise IntakeUnavailable("the request could not be recorded (the Cloud DB did not answer); nothing changed")
        return Accepted(found, replayed=False)

    def _plan(self, action: Action, org_id: int, current: Any, body: BaseModel, request_id: str) -> Change:
        return plan(
            action,
            org_id,
            current,
            body,
            self._registry.catalogues(),
            today=dt.datetime.now(dt.UTC).date(),
            request_id=request_id,
            new_shard=self._registry.least_loaded_shard,
        )

    @staticmethod
    def _replay(earlier: store.RequestRecord, asked: str) -> Accepted:
        if earlier.fingerprint != asked:
            raise Rejected(
                422,
                "Idempotency-Key",
                "this key was already used for a different request (another org, action or body): use a new key",
            )
        return Accepted(earlier, replayed=True)
