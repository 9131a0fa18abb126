"""The HTTP API (FastAPI). `create_app(service)` builds it around a `Service`; nothing is global.

Errors are `{"detail": "<sentence>", "field": "<field or null>"}` (with `errors`, every field at fault,
when the request itself is wrong): 400 for a malformed org id in the path, 404 for an unknown org or
request, 409 for a change the tenant's state forbids, 422 for a body the registry model rejects (every
bad field at once), 401 without a valid bearer token and 413 for a body over a few KiB (both before the
body is read, see `guard`), 503 when the Cloud DB or the registry cannot be used. A rejected request
changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import psycopg
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg.rows import dict_row
from pydantic import BaseModel, Field
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from railzway.clouddb.read import STATE_COLUMNS
from railzway.registry.access import RegistryUnavailable
from railzway.service import request_store as store
from railzway.service.actions import (
    Action,
    DeployBody,
    DowngradeBody,
    EmptyBody,
    Rejected,
    parse_org_id,
)
from railzway.service.core import Service
from railzway.service.guard import MAX_BODY_BYTES, AuthAndBodyLimit, too_large
from railzway.service.intake import IntakeUnavailable
from railzway.service.logs import for_requests

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255
LATEST_REQUESTS = 10
# The synced row's columns the API shows: never the password, nor anything derived from it.
SYNCED_COLUMNS = tuple(c for c in STATE_COLUMNS if c not in ("db_password_key_id",))


Key = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        min_length=1,
        max_length=MAX_IDEMPOTENCY_KEY,
        pattern=r"^[\x21-\x7e]+$",
        description="Send the same key when retrying: the retry returns the first request instead of a new one.",
    ),
]


class FieldError(BaseModel):
    field: str
    detail: str


class ErrorBody(BaseModel):
    detail: str = Field(description="Every problem, `field: why`, separated by `; `.")
    field: str | None = Field(default=None, description="The first field at fault.")
    errors: list[FieldError] | None = Field(default=None, description="400/404/409/422: every field at fault.")


class AcceptedBody(BaseModel):
    request_id: str


class EventBody(BaseModel):
    state: str
    attempt: int
    note: str | None
    at: str


class RequestBody(BaseModel):
    request_id: str
    org_id: int | None = Field(description="The organization; null for a reconcile request (a whole stack).")
    action: str
    params: dict[str, Any]
    stack: str
    state: str = Field(description="queued, running, succeeded or failed.")
    attempts: int
    summary: dict[str, Any] = Field(description="What the request changed in the registry, then in the stack.")
    reason: str | None = Field(
        description="Why it failed, or why it waits to be tried again, in a sentence (null otherwise)."
    )
    created_at: str
    started_at: str | None
    finished_at: str | None
    updated_at: str
    events: list[EventBody] | None = None


class StackStatusBody(BaseModel):
    stack: str
    revision: str | None = Field(description="The registry commit the stack last applied (null: none recorded).")
    applied_at: str | None
    applied_by: str | None = Field(description="The service request(s) or the workflow run that applied it.")
    head: str | None = Field(description="The registry branch head (null without a git remote).")
    behind: int | None = Field(description="Commits on the branch after `revision`.")
    tenants_changed: list[int] = Field(description="Tenants whose file changed between `revision` and `head`.")
    drift: str = Field(description='"current", "drifted: 3 commits behind, tenants 1003, 1004 changed", ...')


class OrgBody(BaseModel):
    org_id: int
    desired: dict[str, Any] | None = Field(description="The tenant as the registry declares it (null: not there).")
    synced: dict[str, Any] | None = Field(
        description="The Cloud DB's `instances` row after the last sync; `password_set` says whether a password is stored."
    )
    requests: list[RequestBody]


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "Malformed org id."),
        (401, "Missing or invalid bearer token."),
        (404, "No such organization or request."),
        (409, "The tenant's state forbids the change."),
        (413, f"The body is over {MAX_BODY_BYTES} bytes; it was not read."),
        (422, "A field is invalid; `field` names it. Nothing changed."),
        (503, "The Cloud DB or the registry cannot be used; nothing changed."),
    )
}


def token_matches(presented: str, token_digests: Sequence[bytes]) -> bool:
    """Whether `presented` is one of the tokens, in time independent of which token and how much matched.

    Digests make every comparison the same length; every token is compared, with no early exit.
    """
    digest = hashlib.sha256(presented.encode()).digest()
    matched = False
    for expected in token_digests:
        matched |= hmac.compare_digest(digest, expected)
    return matched


def create_app(service: Service, *, manage_service: bool = True) -> FastAPI:
    """The API around `service`. With `manage_service`, the app's lifespan opens and closes it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_service:
            await service.open()
        try:
            yield
        finally:
            if manage_service:
                await service.close()

    app = FastAPI(
        title="Railzway Cloud provisioning service",
        version="1",
        description=(
            "Changes the tenants registry and applies it with Pulumi through a durable queue in the Cloud DB. "
            "Every /v1 call needs `Authorization: Bearer <token>`."
        ),
        lifespan=lifespan,
    )
    digests = [hashlib.sha256(t.encode()).digest() for t in service.settings.api_tokens]
    bearer = HTTPBearer(auto_error=False, description="One of RAILZWAY_API_TOKENS.")
    # The token and the body's size are checked before FastAPI reads the body (see `guard`); the
    # dependency below repeats the token check so that no /v1 route can be reached without it. The last
    # middleware added runs first: the gate, then starlette's count of the bytes actually received.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=MAX_BODY_BYTES)
    app.add_middleware(AuthAndBodyLimit, token_valid=lambda token: token_matches(token, digests))

    @app.exception_handler(413)
    async def _too_large(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": too_large(MAX_BODY_BYTES), "field": "body"}, status_code=413)

    async def authorized(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if credentials is None or not token_matches(credentials.credentials, digests):
            raise _Unauthorized()

    @app.exception_handler(_Unauthorized)
    async def _unauthorized(request: Request, exc: _Unauthorized) -> JSONResponse:
        return JSONResponse(
            {"detail": "a valid bearer token is required", "field": "Authorization"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(Rejected)
    async def _rejected(request: Request, exc: Rejected) -> JSONResponse:
        return _problems(exc.status, exc.problems)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems: list[tuple[str, str]] = []
        for error in exc.errors():
            problem = _field_of(error)
            if problem not in problems:
                problems.append(problem)
        return _problems(422, problems)

    @app.exception_handler(RegistryUnavailable)
    @app.exception_handler(IntakeUnavailable)
    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "field": None}, status_code=503)

    @app.exception_handler(psycopg.Error)
    async def _database(request: Request, exc: psycopg.Error) -> JSONResponse:
        log.error("Cloud DB error on %s: %s", request.url.path, type(exc).__name__)
        return JSONResponse({"detail": "the Cloud DB did not answer; nothing changed", "field": None}, status_code=503)

    @app.get("/healthz", responses={503: {"description": "The Cloud DB does not answer."}}, tags=["health"])
    async def healthz() -> JSONResponse:
        """200 when the Cloud DB answers, 503 otherwise. No authentication."""
        if await service.healthy():
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "unavailable", "detail": "the Cloud DB does not answer"}, status_code=503)

    secured: dict[str, Any] = {"dependencies": [Depends(authorized)], "responses": _ERRORS}

    async def accept(org_id: str, action: Action, body: BaseModel, key: str | None) -> JSONResponse:
        accepted = await service.intake.submit(parse_org_id(org_id), action, body, key)
        request_id = str(accepted.request.id)
        headers = {"Location": f"/v1/requests/{request_id}"}
        if accepted.replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse({"request_id": request_id}, status_code=202, headers=headers)

    @app.post("/v1/orgs/{org_id}/deploy", status_code=202, response_model=AcceptedBody, tags=["orgs"], **secured)
    async def deploy(org_id: str, body: DeployBody, key: Key = None) -> JSONResponse:
        """Create the tenant or change its version and tier."""
        return await accept(org_id, Action.deploy, body, key)

    @app.post("/v1/orgs/{org_id}/downgrade", status_code=202, response_model=AcceptedBody, tags=["orgs"], **secured)
    async def downgrade(org_id: str, body: DowngradeBody, key: Key = None) -> JSONResponse:
        """Move the tenant to a lower tier from a date (today: at once)."""
        return await accept(org_id, Action.downgrade, body, key)

    def simple(action: Action, summary: str) -> None:
        async def endpoint(org_id: str, key: Key = None, body: EmptyBody | None = None) -> JSONResponse:
            return await accept(org_id, action, body or EmptyBody(), key)

        endpoint.__name__ = action.value.replace("-", "_")
        endpoint.__doc__ = summary
        app.post(
            f"/v1/orgs/{{org_id}}/{action.value}",
            status_code=202,
            response_model=AcceptedBody,
            tags=["orgs"],
            **secured,
        )(endpoint)

    simple(Action.stop, "Stop the tenant's container; its database stays.")
    simple(Action.start, "Start a stopped tenant again.")
    simple(Action.terminate, "Terminate the tenant: no container, no login; its data is kept.")
    simple(Action.rotate_password, "Give the tenant a new database password.")

    @app.get("/v1/requests/{request_id}", response_model=RequestBody, tags=["requests"], **secured)
    async def get_request(request_id: str) -> RequestBody:
        """A request's state, timestamps, attempts, summary and, on failure, the reason."""
        try:
            wanted = uuid.UUID(request_id)
        except ValueError:
            raise Rejected(404, "request_id", f"no request {request_id!r}") from None
        with for_requests([str(wanted)]):
            async with service.pool.connection() as conn:
                record = await store.get(conn, wanted)
                if record is None:
                    raise Rejected(404, "request_id", f"no request {request_id}")
                history = await store.events(conn, wanted)
        return _request_body(record, history)

    @app.get("/v1/orgs/{org_id}", response_model=OrgBody, tags=["orgs"], **secured)
    async def get_org(org_id: str) -> OrgBody:
        """The registry's desired state, the last synced state from the Cloud DB, and the latest requests."""
        org = parse_org_id(org_id)
        tenant = await asyncio.to_thread(service.registry.tenant, org)
        async with service.pool.connection() as conn:
            synced = await _synced_row(conn, org)
            latest = await store.latest_for_org(conn, org, LATEST_REQUESTS)
        if tenant is None and synced is None and not latest:
            raise Rejected(404, "org_id", f"no organization {org}")
        return OrgBody(
            org_id=org,
            desired=None if tenant is None else tenant.model_dump(mode="json"),
            synced=synced,
            requests=[_request_body(r) for r in latest],
        )

    @app.get("/v1/stacks", response_model=list[StackStatusBody], tags=["stacks"], **secured)
    async def get_stacks() -> list[StackStatusBody]:
        """Every stack's recorded registry revision (when, by whom) and how far it is behind the branch head."""
        return [StackStatusBody(**status.as_dict()) for status in await service.stack_statuses()]

    return app


class _Unauthorized(Exception):
    pass


def _problems(status: int, problems: list[tuple[str, str]]) -> JSONResponse:
    """Every problem of a request in one answer: `detail` and `field` as before, `errors` lists them all."""
    return JSONResponse(
        {
            "detail": "; ".join(f"{field}: {message}" for field, message in problems),
            "field": problems[0][0],
            "errors": [{"field": field, "detail": message} for field, message in problems],
        },
        status_code=status,
    )


async def _synced_row(conn: psycopg.AsyncConnection[Any], org_id: int) -> dict[str, Any] | None:
    columns = ", ".join(SYNCED_COLUMNS)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {columns}, (db_password IS NOT NULL AND db_password <> '') AS password_set "
            "FROM instances WHERE org_id = %s",
            (org_id,),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def _request_body(record: store.RequestRecord, history: list[store.RequestEvent] | None = None) -> RequestBody:
    return RequestBody(
        request_id=str(record.id),
        org_id=record.org_id,
        action=record.action,
        params=record.params,
        stack=record.stack,
        state=record.state,
        attempts=record.attempts,
        summary=record.summary,
        reason=record.reason,
        created_at=record.created_at.isoformat(),
        started_at=None if record.started_at is None else record.started_at.isoformat(),
        finished_at=None if record.finished_at is None else record.finished_at.isoformat(),
        updated_at=record.updated_at.isoformat(),
        events=None
        if history is None
        else [EventBody(state=e.state, attempt=e.attempt, note=e.note, at=e.at.isoformat()) for e in history],
    )


def _field_of(error: dict[str, Any]) -> tuple[str, str]:
    """The request's field a FastAPI validation error is about, and a sentence without the input value."""
    location = [str(part) for part in error.get("loc", ())]
    where, path = (location[0], location[1:]) if location else ("body", [])
    field = ".".join(path) or where
    if where == "header" and path and path[0].lower() == IDEMPOTENCY_HEADER.lower():
        field = IDEMPOTENCY_HEADER
    kind = error.get("type", "")
    message = {
        "missing": "required field is missing",
        "extra_forbidden": "unknown field",
        "string_type": "must be a string",
        "json_invalid": "the body is not valid JSON",
        "model_attributes_type": "the body must be a JSON object",
    }.get(kind, str(error.get("msg", "invalid")).removeprefix("Value error, "))
    if kind == "json_invalid":
        field = "body"
    return field, message
