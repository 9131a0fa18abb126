"""The post-deploy hook of `fleet up`: each stack that deployed writes its outputs to the Cloud DB and
records the registry revision it applied (`railzway.engine.apply.sync_and_record`, the one apply path).

One connection per stack, so stacks that finish together sync in parallel; the sync serializes its own
writers with an advisory lock. Rows are labelled with the stack, so a tenant that left a stack is reported
absent by that stack's sync only.
"""

from __future__ import annotations

from railzway.clouddb import KeyRing, connect, require_current
from railzway.engine.apply import CloudDB, sync_and_record
from railzway.engine.stacks import StackResult
from railzway.fleet.runner import AfterUp


def check_cloud_db(url: str) -> None:
    """Fail before any stack runs when the Cloud DB cannot take a sync (unreachable, schema not current)."""
    with connect(url, application_name="railzway fleet") as conn:
        require_current(conn)


def clouddb_sync(url: str, keys: KeyRing, revision: str | None = None, applied_by: str = "fleet up") -> AfterUp:
    """An `AfterUp` that syncs the stack's outputs, records `revision` (None: not a commit, nothing recorded)
    and returns the sync's one-line summary."""

    def after_up(result: StackResult) -> str:
        applied = sync_and_record(CloudDB(url, keys), result, revision=revision, applied_by=applied_by)
        line = applied.synced.text(show_absent=0).splitlines()[0]
        return line if revision is None else f"{line}; at {revision[:12]}"

    return after_up
