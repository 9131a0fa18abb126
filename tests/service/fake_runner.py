"""A `StackRunner` for the service's tests: what the Pulumi program would output, without the engine.

`up` reads the registry the service writes, exactly as the program does, and returns the `tenants`
output of the targeted orgs in the component's shape (a password derived from the org and its
`password_rotation`, so a rotation changes it). It records every call (stack, orgs, start, end, pid), in
memory and, when given a journal file, as JSON lines, so tests can check batching and that no stack ran
two updates at once, across processes.

In-process tests give it to `Service(runner=...)`; the `serve` processes of `serve_on_fake_runner.py`
get it from `factory_from_env`, tuned by the environment variables below. Never used outside tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from railzway.engine.stacks import Changes, OnOutput, StackLocked, StackRef, StackResult
from railzway.registry import naming
from railzway.registry.loader import load_registry
from railzway.registry.model import Tenant
from railzway.service.updater import RunnerFactory

DELAY_ENV = "RAILZWAY_FAKE_RUNNER_DELAY"
JOURNAL_ENV = "RAILZWAY_FAKE_RUNNER_JOURNAL"
DB_HOST = "db.eu-west.internal"


@dataclass(frozen=True)
class Call:
    stack: str
    orgs: tuple[int, ...]
    start: float
    end: float
    pid: int


def password_of(tenant: Tenant) -> str:
    digest = hashlib.sha256(f"{tenant.org_id}:{tenant.password_rotation}".encode()).hexdigest()
    return f"pw{digest[:30]}"


def outputs_of(tenant: Tenant) -> dict[str, Any]:
    password = password_of(tenant)
    user, database = naming.role_name(tenant.org_id), naming.database_name(tenant.org_id)
    return {
        "org_id": tenant.org_id,
        "db_host": DB_HOST,
        "db_port": 5432,
        "db_name": database,
        "db_user": user,
        "db_password": password,
        "database_url": f"postgres://{user}:{password}@{DB_HOST}:5432/{database}?sslmode=require",
        "nomad_job_id": None if tenant.status == "terminated" else naming.job_id(tenant.org_id),
        "status": tenant.status,
        "tier": tenant.tier,
        "version": tenant.version,
        "region": tenant.region,
    }


class FakeStacks:
    def __init__(
        self,
        registry_dir: Path,
        *,
        delay: float = 0.0,
        journal: Path | None = None,
        locked_times: int = 0,
    ) -> None:
        self.registry_dir = registry_dir
        self.delay = delay
        self.journal = journal
        self.calls: list[Call] = []
        self._locked_left = locked_times
        self._guard = threading.Lock()

    def run(
        self,
        stack: StackRef,
        operation: str,
        *,
        targets: Sequence[str] = (),
        on_output: OnOutput | None = None,
    ) -> StackResult:
        assert operation == "up", operation
        start = time.time()
        with self._guard:
            locked = self._locked_left > 0
            self._locked_left -= 1 if locked else 0
        if self.delay:
            time.sleep(self.delay)
        orgs = tuple(sorted(_org_of(urn) for urn in targets))
        if on_output is not None:
            on_output(f"Updating ({stack.name}): {len(orgs)} target(s)\n")
        registry = load_registry(self.registry_dir)
        # Untargeted (a reconcile): the whole stack, which in these tests is every tenant of the registry.
        chosen = orgs if targets else tuple(sorted(registry.tenants))
        tenants = {str(o): outputs_of(registry.tenants[o]) for o in chosen if o in registry.tenants}
        call = Call(stack.name, orgs, start, time.time(), os.getpid())
        with self._guard:
            self.calls.append(call)
            if self.journal is not None:
                with open(self.journal, "a", encoding="utf-8") as f:
                    f.write(json.dumps(call.__dict__) + "\n")
        if locked:
            raise StackLocked(stack.name, ["a test holding the lock"])
        return StackResult(stack.name, "up", Changes(updates=len(orgs), sames=1), {"tenants": tenants})

    def outputs(self, stack: StackRef) -> dict[str, Any]:
        registry = load_registry(self.registry_dir)
        return {"tenants": {str(t.org_id): outputs_of(t) for t in registry.tenants.values()}}


def _org_of(urn: str) -> int:
    org = naming.org_id_of_resource(urn.rsplit("::", 1)[-1])
    assert org is not None, urn
    return org


def factory_from_env() -> RunnerFactory:
    """The runner of a `serve` process: a `FakeStacks` on each update's registry, tuned by the environment."""
    journal = os.environ.get(JOURNAL_ENV)
    delay = float(os.environ.get(DELAY_ENV, "0"))
    return lambda registry: FakeStacks(registry, delay=delay, journal=Path(journal) if journal else None)


def read_journal(path: Path) -> list[Call]:
    if not path.exists():
        return []
    return [
        Call(**{**json.loads(line), "orgs": tuple(json.loads(line)["orgs"])}) for line in path.read_text().splitlines()
    ]
