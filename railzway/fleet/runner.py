"""Run one operation on many shard stacks, K at a time, and collect what each did.

Stacks are independent (each holds its own tenants and state), so a failure in one never stops the
others: every stack runs, the report says which failed and why. After a successful `up` the stack's
outputs go to the post-deploy hook (the Cloud DB sync); a failing hook fails that stack.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol

from railzway.engine.stacks import Changes, Operation, StackRef, StackResult, StackRunner, failure_reason

log = logging.getLogger(__name__)

Outcome = Literal["succeeded", "failed"]

# Called with the result of each successful `up`; returns one line for the report (e.g. "synced 250 ...").
AfterUp = Callable[[StackResult], str]


@dataclass(frozen=True)
class StackOutcome:
    """One stack's line of the fleet report."""

    stack: str
    operation: Operation
    outcome: Outcome
    seconds: float
    changes: Changes | None = None
    error: str | None = None
    after_up: str | None = None

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


@dataclass(frozen=True)
class FleetReport:
    """Every stack's outcome, in the order the stacks were given."""

    operation: Operation
    outcomes: tuple[StackOutcome, ...]
    seconds: float

    @property
    def failed(self) -> list[str]:
        return [o.stack for o in self.outcomes if o.failed]

    @property
    def ok(self) -> bool:
        return not self.failed


class FleetObserver(Protocol):
    """Told what each stack is doing; the CLI draws a live line per stack with it. Called from worker threads."""

    def queued(self, stacks: Sequence[StackRef]) -> None: ...

    def started(self, stack: str) -> None: ...

    def output(self, stack: str, line: str) -> None: ...

    def finished(self, outcome: StackOutcome) -> None: ...


# Stacks of one region share one PostgreSQL server, and each stack's postgresql provider keeps up to 20
# admin connections (its `maxConnections` default): four stacks at once already hold 80 of a default
# server's 100. One stack's `up` keeps about one core busy (engine, language host, provider plugins), so
# more stacks than cores only queue for CPU. bench/README.md, "Fleet parallelism", has the figures.
MAX_DEFAULT_PARALLELISM = 4


def default_parallelism(cpus: int | None = None) -> int:
    """How many stacks run at once unless `--parallel` says: one per core, at most four."""
    available = (os.cpu_count() if cpus is None else cpus) or 1
    return max(1, min(available, MAX_DEFAULT_PARALLELISM))


def run_fleet(
    stacks: Sequence[StackRef],
    operation: Operation,
    runner: StackRunner,
    *,
    parallel: int | None = None,
    after_up: AfterUp | None = None,
    observer: FleetObserver | None = None,
) -> FleetReport:
    """Run `operation` on every stack, at most `parallel` at once (default: `default_parallelism()`)."""
    width = default_parallelism() if parallel is None else parallel
    if width < 1:
        raise ValueError(f"parallel must be at least 1, got {width}")
    names = [s.name for s in stacks]
    if len(set(names)) != len(names):
        raise ValueError("a stack is listed twice: " + ", ".join(sorted({n for n in names if names.count(n) > 1})))
    if observer is not None:
        observer.queued(stacks)
    start = time.perf_counter()
    if not stacks:
        return FleetReport(operation, (), 0.0)
    with ThreadPoolExecutor(max_workers=min(width, len(stacks)), thread_name_prefix="fleet") as pool:
        futures = [pool.submit(_run_one, stack, operation, runner, after_up, observer) for stack in stacks]
        outcomes = tuple(f.result() for f in futures)
    return FleetReport(operation, outcomes, time.perf_counter() - start)


def _run_one(
    stack: StackRef,
    operation: Operation,
    runner: StackRunner,
    after_up: AfterUp | None,
    observer: FleetObserver | None,
) -> StackOutcome:
    if observer is not None:
        observer.started(stack.name)
    start = time.perf_counter()

    def on_output(text: str) -> None:
        if observer is not None:
            for line in text.splitlines():
                if line.strip():
                    observer.output(stack.name, line.strip())

    outcome: StackOutcome
    try:
        result = runner.run(stack, operation, on_output=on_output)
    except Exception as e:  # one stack's failure is reported, never raised: the others must finish
        log.info("%s %s failed: %s", operation, stack.name, failure_reason(e))
        outcome = StackOutcome(stack.name, operation, "failed", time.perf_counter() - start, error=failure_reason(e))
    else:
        note: str | None = None
        error: str | None = None
        if operation == "up" and after_up is not None:
            try:
                note = after_up(result)
            except Exception as e:  # the deploy succeeded; the stack still fails so the sync is re-run
                log.info("after up of %s failed: %s", stack.name, failure_reason(e))
                error = f"up succeeded, sync failed: {failure_reason(e)}"
        outcome = StackOutcome(
            stack.name,
            operation,
            "failed" if error else "succeeded",
            time.perf_counter() - start,
            changes=result.changes,
            error=error,
            after_up=note,
        )
    if observer is not None:
        observer.finished(outcome)
    return outcome
