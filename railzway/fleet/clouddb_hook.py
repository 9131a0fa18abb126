"""The post-deploy hook of `fleet up`: each stack that deployed writes its outputs to the Cloud DB.

One connection per stack, so stacks that finish together sync in parallel; the sync serializes its own
writers with an advisory lock. Rows are labelled with the stack, so a tenant that left a stack is reported
absent by that stack's sync only.
"""

from __future__ import annotations

from railzway.clouddb import KeyRing, connect, require_current, sync
from railzway.fleet.runner import AfterUp
from railzway.stacks import StackResult


def check_cloud_db(url: str) -> None:
    """Fail before any stack runs when the Cloud DB cannot take a sync (unreachable, schema not current)."""
    with connect(url, application_name="railzway fleet") as conn:
        require_current(conn)


def clouddb_sync(url: str, keys: KeyRing) -> AfterUp:
    """An `AfterUp` that syncs the stack's outputs and returns the sync's one-line summary."""

    def after_up(result: StackResult) -> str:
        with connect(url, application_name=f"railzway fleet {result.stack}") as conn:
            summary = sync(conn, result.outputs, keys, stack=result.stack)
        return summary.text(show_absent=0).splitlines()[0]

    return after_up
