"""How a fleet run looks: a live line per stack while it runs, a summary table when it is done."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from railzway.engine.stacks import StackRef
from railzway.fleet.runner import FleetReport, StackOutcome

_LINE_WIDTH = 70


class LiveProgress:
    """A `FleetObserver` drawing one line per stack (state, latest engine message, elapsed) with rich."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(finished_text=" "),
            TextColumn("{task.fields[stack]}", style="bold"),
            TextColumn("{task.fields[state]}"),
            TextColumn("{task.description}", style="dim"),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> LiveProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def queued(self, stacks: Sequence[StackRef]) -> None:
        width = max((len(s.name) for s in stacks), default=0)
        with self._lock:
            for stack in stacks:
                self._tasks[stack.name] = self._progress.add_task(
                    "", total=1, start=False, stack=stack.name.ljust(width), state="queued "
                )

    def started(self, stack: str) -> None:
        task = self._tasks[stack]
        self._progress.start_task(task)
        self._progress.update(task, state="running")

    def output(self, stack: str, line: str) -> None:
        text = line if len(line) <= _LINE_WIDTH else line[: _LINE_WIDTH - 1] + "…"
        self._progress.update(self._tasks[stack], description=text)

    def finished(self, outcome: StackOutcome) -> None:
        state = "[green]done   [/]" if not outcome.failed else "[red]failed [/]"
        detail = _changes_text(outcome) if not outcome.failed else (outcome.error or "")
        self._progress.update(self._tasks[outcome.stack], state=state, description=detail[:_LINE_WIDTH], completed=1)


def summary_table(report: FleetReport) -> Table:
    """stack, creates, updates, deletes, duration, result: one row per stack, failures in red."""
    table = Table(title=f"fleet {report.operation}: {len(report.outcomes)} stacks in {report.seconds:.1f} s")
    table.add_column("stack")
    for column in ("creates", "updates", "deletes"):
        table.add_column(column, justify="right")
    table.add_column("duration", justify="right")
    table.add_column("result")
    for outcome in report.outcomes:
        changes = outcome.changes
        counts = (
            [str(changes.creates), str(changes.updates + changes.replaces), str(changes.deletes)]
            if changes is not None
            else ["-", "-", "-"]
        )
        result = (
            Text(f"failed: {outcome.error}", style="red")
            if outcome.failed
            else Text("succeeded" + (f" ({outcome.after_up})" if outcome.after_up else ""), style="green")
        )
        table.add_row(outcome.stack, *counts, f"{outcome.seconds:.1f} s", result)
    return table


def _changes_text(outcome: StackOutcome) -> str:
    c = outcome.changes
    if c is None:
        return ""
    return f"+{c.creates} ~{c.updates + c.replaces} -{c.deletes}"
