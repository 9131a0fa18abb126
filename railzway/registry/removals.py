"""When may a tenant leave the registry? Only once it is terminated (pure: two registries in, problems out).

The role and database are `retain_on_delete`: removing a tenant's file makes Pulumi forget them and
leaves them on the server as they are. A running or stopped tenant would keep a role that can log in with
a valid password, managed by nothing (issue 13). A terminated tenant's role can no longer log in and its
sessions were ended, so it is the only state in which Pulumi may forget it.
"""

from __future__ import annotations

from pathlib import Path

from railzway.registry.loader import Problem
from railzway.registry.model import Registry

REMOVABLE_STATUS = "terminated"


def removal_problems(base: Registry | None, head: Registry, directory: str | Path, base_name: str) -> list[Problem]:
    """One error per tenant of `base` missing from `head` that was not terminated at `base`."""
    if base is None:
        return []
    problems = []
    for org_id, tenant in sorted(base.tenants.items()):
        if org_id in head.tenants or tenant.status == REMOVABLE_STATUS:
            continue
        problems.append(
            Problem(
                file=str(Path(directory) / "orgs" / f"{org_id}.yaml"),
                message=(
                    f"tenant {org_id} is removed from the registry but is {tenant.status} at {base_name}: "
                    "its role would keep logging in, outside Pulumi's state; set `status: terminated`, deploy "
                    "it, and remove the file in a later change"
                ),
            )
        )
    return problems
