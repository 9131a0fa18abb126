"""The fleet runner's scheduling and failure handling, with the engine behind the `StackRunner` seam.

The recording engine really sleeps in worker threads, so "at most K at once" is observed, not assumed.
"""

from __future__ import annotations

import threading

import pytest
from fleet_fakes import RecordingStacks

from railzway.engine.stacks import Changes, StackRef, StackResult
from railzway.fleet import StackOutcome, default_parallelism, run_fleet

STACKS = [StackRef(f"prod-eu-west-{n:02d}", (f"eu-west/{n}",)) for n in range(7)]


class Events:
    """A `FleetObserver` that keeps what it was told."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[tuple[str, str]] = []
        self.outcomes: list[StackOutcome] = []

    def queued(self, stacks: object) -> None:
        self.log.append(("queued", ",".join(s.name for s in stacks)))  # type: ignore[attr-defined]

    def started(self, stack: str) -> None:
        with self.lock:
            self.log.append(("started", stack))

    def output(self, stack: str, line: str) -> None:
        with self.lock:
            self.log.append(("output", f"{stack}: {line}"))

    def finished(self, outcome: StackOutcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)


def test_never_more_than_k_stacks_run_at_once() -> None:
    engine = RecordingStacks(delay=0.05)
    run_fleet(STACKS, "preview", engine, parallel=3)
    assert engine.most_at_once == 3


def test_one_at_a_time_runs_them_strictly_one_after_another() -> None:
    engine = RecordingStacks(delay=0.01)
    run_fleet(STACKS[:4], "preview", engine, parallel=1)
    assert engine.most_at_once == 1
    assert [c[1] for c in engine.calls] == [s.name for s in STACKS[:4]]


def test_every_stack_runs_once_with_the_operation() -> None:
    engine = RecordingStacks()
    run_fleet(STACKS, "refresh", engine, parallel=2)
    assert sorted((stack, op) for _, stack, op, _ in engine.calls) == sorted((s.name, "refresh") for s in STACKS)


def test_parallel_runs_use_several_worker_threads() -> None:
    engine = RecordingStacks(delay=0.05)
    run_fleet(STACKS[:4], "preview", engine, parallel=4)
    assert len({thread for thread, *_ in engine.calls}) == 4


def test_results_come_back_in_the_order_given_with_their_changes() -> None:
    engine = RecordingStacks(
        delay=0.01, changes={STACKS[2].name: Changes(creates=250, updates=1), STACKS[5].name: Changes(deletes=2)}
    )
    report = run_fleet(STACKS, "preview", engine, parallel=3)
    assert [o.stack for o in report.outcomes] == [s.name for s in STACKS]
    assert report.outcomes[2].changes == Changes(creates=250, updates=1)
    assert report.outcomes[5].changes == Changes(deletes=2)
    assert report.ok and report.failed == []


def test_one_failing_stack_does_not_stop_the_others() -> None:
    engine = RecordingStacks(delay=0.01, failing={STACKS[1].name: RuntimeError("error: connection refused")})
    report = run_fleet(STACKS, "up", engine, parallel=2)
    assert len(engine.calls) == len(STACKS)
    assert [o.outcome for o in report.outcomes] == ["succeeded", "failed"] + ["succeeded"] * 5


def test_the_report_names_the_failed_stacks_and_why() -> None:
    engine = RecordingStacks(
        failing={
            STACKS[3].name: RuntimeError("stdout: ...\nerror: update failed\n"),
            STACKS[6].name: RuntimeError("error: the stack is currently locked by 1 lock(s)"),
        }
    )
    report = run_fleet(STACKS, "up", engine, parallel=4)
    assert not report.ok
    assert report.failed == [STACKS[3].name, STACKS[6].name]
    assert report.outcomes[3].error == "error: update failed"
    assert report.outcomes[6].error == "error: the stack is currently locked by 1 lock(s)"
    assert report.outcomes[3].changes is None


def test_up_syncs_each_stack_that_succeeded_with_its_outputs() -> None:
    synced: list[tuple[str, dict[str, object]]] = []
    outputs = {s.name: {"tenants": {str(i): {"org_id": i}}} for i, s in enumerate(STACKS[:3])}
    engine = RecordingStacks(outputs_of=outputs, failing={STACKS[1].name: RuntimeError("error: boom")})

    def after_up(result: StackResult) -> str:
        synced.append((result.stack, dict(result.outputs)))
        return "synced 1 tenant"

    report = run_fleet(STACKS[:3], "up", engine, parallel=2, after_up=after_up)
    assert sorted(synced) == sorted(
        [(STACKS[0].name, outputs[STACKS[0].name]), (STACKS[2].name, outputs[STACKS[2].name])]
    )
    assert [o.after_up for o in report.outcomes] == ["synced 1 tenant", None, "synced 1 tenant"]


def test_a_failed_sync_fails_its_stack_but_keeps_the_deploy_changes() -> None:
    engine = RecordingStacks(changes={STACKS[0].name: Changes(creates=6)})

    def after_up(result: StackResult) -> str:
        raise ConnectionError("cannot connect to the Cloud DB")

    report = run_fleet(STACKS[:1], "up", engine, after_up=after_up)
    assert report.failed == [STACKS[0].name]
    assert report.outcomes[0].error == "up succeeded, sync failed: cannot connect to the Cloud DB"
    assert report.outcomes[0].changes == Changes(creates=6)


def test_preview_never_runs_the_after_up_hook() -> None:
    called: list[str] = []

    def after_up(result: StackResult) -> str:
        called.append(result.stack)
        return "synced"

    run_fleet(STACKS[:2], "preview", RecordingStacks(), after_up=after_up)
    assert called == []


def test_the_observer_hears_start_output_and_finish_of_every_stack() -> None:
    events = Events()
    run_fleet(STACKS[:3], "preview", RecordingStacks(), parallel=2, observer=events)
    assert events.log[0] == ("queued", ",".join(s.name for s in STACKS[:3]))
    assert sorted(e for e in events.log if e[0] == "started") == [("started", s.name) for s in STACKS[:3]]
    assert ("output", f"{STACKS[1].name}: preview {STACKS[1].name}") in events.log
    assert sorted(o.stack for o in events.outcomes) == [s.name for s in STACKS[:3]]


def test_a_stack_listed_twice_is_refused_before_anything_runs() -> None:
    engine = RecordingStacks()
    with pytest.raises(ValueError, match="a stack is listed twice: prod-eu-west-00"):
        run_fleet([STACKS[0], STACKS[0]], "up", engine)
    assert engine.calls == []


def test_parallel_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="parallel must be at least 1, got 0"):
        run_fleet(STACKS, "up", RecordingStacks(), parallel=0)


def test_no_stacks_is_an_empty_successful_report() -> None:
    report = run_fleet([], "up", RecordingStacks())
    assert report.outcomes == () and report.ok


@pytest.mark.parametrize(("cpus", "expected"), [(1, 1), (2, 2), (4, 4), (16, 4), (0, 1)])
def test_the_default_parallelism_is_one_stack_per_core_and_at_most_four(cpus: int, expected: int) -> None:
    assert default_parallelism(cpus) == expected
