"""`railzway sync --outputs FILE | --stack NAME`: write a stack's `tenants` output into the Cloud DB.

The post-deploy hook. FILE is what `pulumi stack output --json --show-secrets` prints (`-`: standard
input); `--stack` reads the same outputs through the Automation API, and then also records the registry
revision the stack applied (`railzway.engine.apply.sync_and_record`, the path every `up` ends with): the commit of
the project's registry checkout when it is clean, or `--revision`. Prints a summary, never a secret.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import psycopg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from railzway.cli.common import CommandError, console_err
from railzway.clouddb import (
    CloudDBUnavailable,
    CredentialsKeyError,
    KeyRing,
    MigrationError,
    OutputsError,
    cloud_db_url,
    connect,
    database_error,
    load_keys,
    parse_json,
    parse_outputs,
    sync_tenants,
)
from railzway.engine.apply import ApplyFailed, CloudDB, applied_by_here, checkout_revision, sync_and_record
from railzway.engine.stacks import Changes, StackResult
from railzway.registry.location import DEFAULT_REGISTRY_DIR, PROJECT_ROOT

PROJECT_DIR = PROJECT_ROOT
_FULL_COMMIT = re.compile(r"^[0-9a-f]{40}$")
# Below this many tenants a sync takes well under a second: no progress bar.
PROGRESS_THRESHOLD = 1000


def sync(
    outputs: str | None = typer.Option(
        None, "--outputs", metavar="FILE", help="`pulumi stack output --json --show-secrets` output; '-' reads stdin."
    ),
    stack: str | None = typer.Option(
        None, "--stack", metavar="NAME", help="Read this stack's outputs through the Automation API (needs `pulumi`)."
    ),
    work_dir: Path = typer.Option(
        PROJECT_DIR, "--work-dir", metavar="DIR", show_default="this project", help="The Pulumi project of --stack."
    ),
    revision: str | None = typer.Option(
        None,
        "--revision",
        metavar="COMMIT",
        help="With --stack: the registry commit the stack applied (default: the project's checkout, when clean).",
    ),
    applied_by: str | None = typer.Option(
        None,
        "--applied-by",
        metavar="WHO",
        help="With --stack: who applied it (default: the workflow run, or user@host).",
    ),
) -> None:
    """Upsert one Cloud DB row per tenant of a stack's outputs, in one transaction."""
    if (outputs is None) == (stack is None):
        raise CommandError("give exactly one of --outputs FILE and --stack NAME", 2)
    # The cheapest preconditions first: a missing CLI is found before the operator is asked for keys.
    if stack is not None:
        _require_pulumi()
    try:
        keys = load_keys()
        url = cloud_db_url()
    except (CredentialsKeyError, CloudDBUnavailable) as e:
        raise CommandError(str(e), 2) from None
    raw = _read_file(outputs) if outputs is not None else _read_stack(stack or "", work_dir)
    try:
        tenants = parse_outputs(raw)
    except OutputsError as e:
        for problem in e.problems:
            console_err(problem)
        raise CommandError(f"{_source(outputs, stack)}: {len(e.problems)} problem(s); nothing was written", 1) from None
    if stack is not None:
        _sync_stack(url, keys, stack, raw, len(tenants), work_dir, revision, applied_by)
        return
    if revision is not None or applied_by is not None:
        raise CommandError("--revision and --applied-by go with --stack", 2)
    try:
        with connect(url, application_name="railzway sync") as conn, _progress(len(tenants)) as progress:
            summary = sync_tenants(conn, tenants, keys, stack=stack, progress=progress)
    except CloudDBUnavailable as e:
        raise CommandError(str(e), 2) from None
    except MigrationError as e:
        raise CommandError(str(e), 1) from None
    except psycopg.Error as e:
        raise CommandError(f"the Cloud DB refused the sync: {database_error(e)}; nothing was written", 1) from None
    print(summary.text())


def _sync_stack(
    url: str,
    keys: KeyRing,
    stack: str,
    raw: Any,
    count: int,
    work_dir: Path,
    revision: str | None,
    applied_by: str | None,
) -> None:
    commit = revision or checkout_revision(work_dir / DEFAULT_REGISTRY_DIR)
    if commit is not None and not _FULL_COMMIT.match(commit):
        raise CommandError(f"--revision must be a full 40-character commit id, not {commit!r}", 2)
    result = StackResult(stack, "up", Changes(), raw if isinstance(raw, dict) else {})
    try:
        with _progress(count) as progress:
            applied = sync_and_record(
                CloudDB(url, keys),
                result,
                revision=commit,
                applied_by=applied_by or applied_by_here(),
                progress=progress,
            )
    except ApplyFailed as e:
        raise CommandError(e.reason.removeprefix("the update ran, but "), 2 if e.transient else 1) from None
    print(applied.synced.text())
    if applied.recorded is not None:
        console_err(f"stack {stack}: recorded registry revision {applied.recorded.revision[:12]}")
    else:
        console_err(
            f"stack {stack}: no registry revision recorded ({work_dir / DEFAULT_REGISTRY_DIR} is not a clean git checkout)"
        )


def _read_file(name: str) -> Any:
    if name == "-":
        return parse_json(sys.stdin.read(), "<stdin>")
    path = Path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CommandError(f"{path}: cannot read: {e.strerror}", 2) from None
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not UTF-8 text", 1) from None
    try:
        return parse_json(text, str(path))
    except OutputsError as e:
        raise CommandError(e.problems[0], 1) from None


def _read_stack(name: str, work_dir: Path) -> dict[str, Any]:
    """The stack's outputs with secrets in the clear, as `pulumi stack output --json --show-secrets`."""
    from pulumi import automation as auto

    try:
        selected = auto.select_stack(stack_name=name, work_dir=str(work_dir))
        return {key: value.value for key, value in selected.outputs().items()}
    except auto.StackNotFoundError:
        raise CommandError(f"stack {name!r} does not exist in the Pulumi project at {work_dir}", 2) from None
    except auto.CommandError as e:
        raise CommandError(f"pulumi could not read the outputs of stack {name!r}: {_pulumi_reason(e)}", 2) from None
    except FileNotFoundError:
        raise CommandError("the pulumi CLI could not be run", 2) from None


def _require_pulumi() -> None:
    if shutil.which("pulumi") is None:
        raise CommandError(
            "the pulumi CLI is not on PATH, so --stack cannot read the outputs: install it "
            "(https://www.pulumi.com/docs/install/), or pass the outputs with "
            "`pulumi stack output --json --show-secrets | python -m railzway sync --outputs -`",
            2,
        )


def _pulumi_reason(error: Exception) -> str:
    # The message holds the command's stdout too; only stderr explains a failure, and it holds no outputs.
    stderr = str(error).rpartition(" stderr: ")[2].strip()
    return stderr.splitlines()[0] if stderr else "no reason given"


def _source(outputs: str | None, stack: str | None) -> str:
    if outputs is not None:
        return "<stdin>" if outputs == "-" else outputs
    return f"stack {stack}"


class _Bar:
    """A rich progress bar on stderr for large fleets; silent for small ones."""

    def __init__(self, total: int) -> None:
        self._enabled = total >= PROGRESS_THRESHOLD
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self._enabled:
            return
        if phase not in self._tasks:
            self._tasks[phase] = self._progress.add_task(phase, total=total)
        self._progress.update(self._tasks[phase], completed=done, total=total)

    def __enter__(self) -> _Bar:
        if self._enabled:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._enabled:
            self._progress.stop()


def _progress(total: int) -> _Bar:
    return _Bar(total)


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)
