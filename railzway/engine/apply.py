"""The one apply path: `up` (targeted or not), then the Cloud DB sync, then the applied revision recorded.

The service's workers, the fleet runner (`fleet up`, which the deploy workflow runs), `make up` and
`sync --stack` all end here, with one classification of what went wrong (`ApplyFailed`):

- transient (`transient=True`): another update holds the stack, the engine failed, the Cloud DB did not
  answer. Trying again can help; the service retries with backoff, the fleet reports the stack failed.
- permanent: no pulumi CLI, outputs that cannot be synced, a Cloud DB schema that is not current, the
  Cloud DB refusing the rows. The reason says what to do; trying again cannot help.

A reason is a sentence safe to show (never exception text, which can carry engine output or SQL); the
details go to the log. The recorded revision is what `fleet status` and `fleet up --changed-only` compare
with the branch head; a caller passes `revision=None` when what it applied is not a commit (a dirty work
tree, or a targeted `up` while other tenants of the stack changed since its recorded revision).
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from railzway.clouddb import (
    CloudDBUnavailable,
    KeyRing,
    OutputsError,
    SchemaOutOfDate,
    StackRevision,
    SyncSummary,
    connect,
    database_error,
    record_revision,
    sync,
)
from railzway.clouddb.migrate import MigrationError
from railzway.clouddb.sync import Progress
from railzway.engine.stacks import (
    OnOutput,
    PulumiUnavailable,
    StackLocked,
    StackRef,
    StackResult,
    StackRunner,
    failure_reason,
    tenant_urn,
)

log = logging.getLogger(__name__)
engine_log = logging.getLogger("railzway.engine")

NO_CLI = "the pulumi CLI is not on PATH"


class ApplyFailed(Exception):
    """An apply that did not complete; `reason` is safe to show, `transient` says whether to try again."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


@dataclass(frozen=True)
class CloudDB:
    """Where the sync writes and records, and the keys it encrypts passwords with."""

    url: str
    keys: KeyRing


@dataclass(frozen=True)
class Applied:
    """What one apply did (no secret in it)."""

    result: StackResult
    synced: SyncSummary
    missing: tuple[int, ...] = ()
    """Orgs of a targeted apply that the stack's outputs do not list afterwards."""
    recorded: StackRevision | None = None


def apply_stack(
    runner: StackRunner,
    stack: StackRef,
    cloud_db: CloudDB,
    *,
    orgs: Sequence[int] | None = None,
    revision: str | None = None,
    applied_by: str,
    on_output: OnOutput | None = None,
) -> Applied:
    """`up` of `stack` (only `orgs`' tenants when given), sync their outputs, record `revision`."""
    targets = [tenant_urn(stack.name, org) for org in orgs] if orgs else []
    try:
        result = runner.run(stack, "up", targets=targets, on_output=on_output)
    except Exception as e:
        raise classify(stack.name, e) from None
    return sync_and_record(cloud_db, result, orgs=orgs, revision=revision, applied_by=applied_by)


def sync_and_record(
    cloud_db: CloudDB,
    result: StackResult,
    *,
    orgs: Sequence[int] | None = None,
    revision: str | None,
    applied_by: str,
    progress: Progress | None = None,
) -> Applied:
    """The steps after a successful `up`: the Cloud DB sync of its outputs (only `orgs` when given), then
    the revision recorded. Also what `sync --stack` and `make up` run after a `pulumi up` of their own."""
    listed = result.outputs.get("tenants")
    tenants: Mapping[str, Any] = listed if isinstance(listed, Mapping) else {}
    missing: tuple[int, ...] = ()
    if orgs is not None:
        wanted = {str(org) for org in orgs}
        tenants = {key: value for key, value in tenants.items() if key in wanted}
        missing = tuple(sorted(org for org in orgs if str(org) not in tenants))
    try:
        with connect(cloud_db.url, application_name=f"railzway apply {result.stack}") as conn:
            if tenants or orgs is None:
                summary = sync(conn, {"tenants": dict(tenants)}, cloud_db.keys, stack=result.stack, progress=progress)
            else:
                summary = SyncSummary(0, 0, 0)
            recorded = None
            if revision is not None:
                recorded = record_revision(conn, result.stack, revision, applied_by)
    except Exception as e:
        raise classify_sync(result.stack, e) from None
    return Applied(result, summary, missing, recorded)


def classify(stack: str, error: BaseException) -> ApplyFailed:
    """The one classification of an engine failure."""
    if isinstance(error, ApplyFailed):
        return error
    if isinstance(error, PulumiUnavailable):
        return ApplyFailed(NO_CLI, transient=False)
    from pulumi import automation as auto

    if isinstance(error, StackLocked | auto.ConcurrentUpdateError):
        return ApplyFailed(f"another update of stack {stack} was running", transient=True)
    if isinstance(error, auto.CommandError):
        engine_log.error("pulumi up of stack %s failed: %s", stack, failure_reason(error))
        return ApplyFailed(
            # The engine's own words stay in the log: they can quote program output.
            f"pulumi up of stack {stack} failed; the log has the engine's message",
            transient=True,
        )
    log.error("update of stack %s stopped by an unexpected error", stack, exc_info=error)
    return ApplyFailed(
        f"an unexpected error stopped the update of stack {stack}; the log has the details", transient=False
    )


def classify_sync(stack: str, error: BaseException) -> ApplyFailed:
    """The one classification of a sync (or revision record) failure after a successful `up`."""
    if isinstance(error, OutputsError):
        # The problems name org and field and never a value (see railzway.clouddb.outputs).
        return ApplyFailed(
            f"the update ran, but the stack's outputs cannot be synced to the Cloud DB: {'; '.join(error.problems)}",
            transient=False,
        )
    if isinstance(error, SchemaOutOfDate | MigrationError):
        return ApplyFailed(
            "the update ran, but the Cloud DB schema is not current: run `python -m railzway migrate`",
            transient=False,
        )
    if isinstance(error, CloudDBUnavailable | psycopg.OperationalError):
        log.warning("sync of stack %s failed: %s", stack, type(error).__name__)
        return ApplyFailed("the update ran, but the Cloud DB did not answer for the sync", transient=True)
    if isinstance(error, psycopg.Error):
        return ApplyFailed(
            f"the update ran, but the Cloud DB refused the sync: {database_error(error)}", transient=False
        )
    log.error("sync of stack %s stopped by an unexpected error", stack, exc_info=error)
    return ApplyFailed(f"the update ran, but the sync of stack {stack} stopped unexpectedly", transient=False)


def checkout_revision(registry_dir: Path) -> str | None:
    """The commit a work tree's registry is at, or None when it is not a clean git checkout (then what is
    applied is not a commit, and no revision is recorded)."""
    directory = registry_dir.resolve()
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--verify", "HEAD"], cwd=directory, capture_output=True, text=True, check=False
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--", "."],
            cwd=directory,
            capture_output=True,
            text=True,
            check=False,
        )
    except (FileNotFoundError, NotADirectoryError):
        return None
    if dirty.returncode != 0 or dirty.stdout.strip():
        return None
    return head.stdout.strip()


def applied_by_here(environ: Mapping[str, str] | None = None) -> str:
    """Who applies from this process: the GitHub workflow run, or user@host."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"workflow run {server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
