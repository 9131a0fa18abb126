"""`railzway fleet stacks|preview|up|refresh`: the shard stacks, and one operation run on many of them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from railzway.cli.common import REGISTRY_OPTION, CommandError, console_err, registry_or_fail
from railzway.clouddb import StackRevision
from railzway.engine.stacks import (
    DEFAULT_ENVIRONMENT,
    ENVIRONMENT_ENV,
    OPERATIONS,
    Operation,
    PulumiUnavailable,
    StackRef,
)
from railzway.fleet import (
    AfterUp,
    RevisionError,
    Selection,
    SelectionError,
    default_parallelism,
    registry_at_revision,
    run_fleet,
    select_stacks,
)
from railzway.fleet.display import LiveProgress, summary_table
from railzway.fleet.program_files import program_changed, program_files, stack_settings
from railzway.fleet.recorded import changed_since_recorded
from railzway.registry.at_revision import changed_paths
from railzway.registry.loader import RegistryError
from railzway.registry.location import PROJECT_ROOT
from railzway.registry.model import Registry
from railzway.registry.shards import tenants_of

fleet_app = typer.Typer(
    name="fleet",
    help="The shard stacks: list them and their revisions, or run preview, up or refresh on many in parallel.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

ENVIRONMENT_OPTION = typer.Option(
    DEFAULT_ENVIRONMENT,
    "--environment",
    metavar="ENV",
    envvar=ENVIRONMENT_ENV,
    help="The environment part of the stack names.",
)
PARALLEL_OPTION = typer.Option(
    None, "--parallel", metavar="K", min=1, help="How many stacks run at once (default: one per core, at most 4)."
)
STACKS_OPTION = typer.Option(
    [], "--stacks", metavar="GLOB", help="Only stacks whose name matches (repeatable), e.g. 'prod-eu-*'."
)
CHANGED_ONLY_OPTION = typer.Option(
    False,
    "--changed-only",
    help="Only stacks whose tenants differ between --head and the revision each stack recorded in the "
    "Cloud DB (or, with --base, between --base and --head).",
)
BASE_OPTION = typer.Option(
    None, "--base", metavar="REV", help="With --changed-only: compare with this git revision instead."
)
HEAD_OPTION = typer.Option("HEAD", "--head", metavar="REV", help="With --changed-only: the git head.")


@fleet_app.command("stacks")
def stacks(
    registry_dir: Path = REGISTRY_OPTION,
    environment: str = ENVIRONMENT_OPTION,
    changed_only: bool = typer.Option(
        False,
        "--changed-only",
        help="Only stacks whose tenants differ between --head and the revision each stack recorded in the Cloud DB "
        "(or, with --base, between --base and --head).",
    ),
    base: str | None = typer.Option(
        None, "--base", metavar="REV", help="With --changed-only: compare with this git revision instead."
    ),
    head: str = typer.Option("HEAD", "--head", metavar="REV", help="With --changed-only: the git head."),
    output_format: str = typer.Option(
        "table", "--format", help="table, or json: a list of stack names (a CI job matrix)."
    ),
) -> None:
    """List the stacks of the scheme (one per shard of each region) with their tenant counts."""
    if output_format not in ("table", "json"):
        raise CommandError(f"--format must be table or json, not {output_format!r}", 2)
    registry, selection = _selection(registry_dir, [], changed_only, base, head, environment)
    if output_format == "json":
        print(json.dumps([stack.name for stack in selection.stacks]))
        return
    limit = registry.regions.max_tenants_per_shard
    table = Table(title=f"{environment}: shard stacks (max {limit} tenants each)")
    table.add_column("stack")
    table.add_column("region")
    for column in ("shard", "tenants", "running"):
        table.add_column(column, justify="right")
    total = 0
    for stack in selection.stacks:
        tenants = tenants_of(registry, stack)
        total += len(tenants)
        count = f"[red]{len(tenants)}[/]" if len(tenants) > limit else str(len(tenants))
        running = sum(1 for t in tenants if t.status == "running")
        table.add_row(stack.name, stack.region, str(stack.shard), count, str(running))
    Console().print(table)
    print(f"{len(table.rows)} stacks, {total} tenants")


def _operation(operation: Operation) -> None:
    # `--no-sync` is an option of `up` alone: preview and refresh write nothing to sync.
    command: Callable[..., None]
    if operation == "up":

        def up_command(
            parallel: int | None = PARALLEL_OPTION,
            stack_globs: list[str] = STACKS_OPTION,
            changed_only: bool = CHANGED_ONLY_OPTION,
            base: str | None = BASE_OPTION,
            head: str = HEAD_OPTION,
            environment: str = ENVIRONMENT_OPTION,
            registry_dir: Path = REGISTRY_OPTION,
            no_sync: bool = typer.Option(
                False, "--no-sync", help="Skip the Cloud DB sync after each stack (e.g. a dev fleet)."
            ),
        ) -> None:
            _run(operation, parallel, stack_globs, changed_only, base, head, environment, registry_dir, no_sync)

        command = up_command
    else:

        def other_command(
            parallel: int | None = PARALLEL_OPTION,
            stack_globs: list[str] = STACKS_OPTION,
            changed_only: bool = CHANGED_ONLY_OPTION,
            base: str | None = BASE_OPTION,
            head: str = HEAD_OPTION,
            environment: str = ENVIRONMENT_OPTION,
            registry_dir: Path = REGISTRY_OPTION,
        ) -> None:
            _run(operation, parallel, stack_globs, changed_only, base, head, environment, registry_dir, False)

        command = other_command

    command.__doc__ = f"Run `{operation}` on every matching shard stack, K at a time; exit 1 naming failed stacks."
    fleet_app.command(operation)(command)


for _op in OPERATIONS:
    _operation(_op)


def _run(
    operation: Operation,
    parallel: int | None,
    stack_globs: list[str],
    changed_only: bool,
    base: str | None,
    head: str,
    environment: str,
    registry_dir: Path,
    no_sync: bool,
) -> None:
    _, selection = _selection(registry_dir, stack_globs, changed_only, base, head, environment)
    if not selection.stacks:
        print(f"fleet {operation}: no stack to run" + (" (no tenant changed)" if changed_only else ""))
        return

    from railzway.engine.stacks import AutomationStacks

    try:
        runner = AutomationStacks()
    except PulumiUnavailable as e:
        raise CommandError(str(e), 2) from None
    after_up = _cloud_db_hook(registry_dir) if operation == "up" and not no_sync else None
    refs = [StackRef.of(s) for s in selection.stacks]
    with LiveProgress(Console(stderr=True)) as live:
        report = run_fleet(
            refs, operation, runner, parallel=parallel or default_parallelism(), after_up=after_up, observer=live
        )
    Console().print(summary_table(report))
    if not report.ok:
        failed = report.failed
        raise CommandError(f"{len(failed)} of {len(report.outcomes)} stacks failed: {', '.join(failed)}", 1)


def _selection(
    registry_dir: Path, stack_globs: list[str], changed_only: bool, base: str | None, head: str, environment: str
) -> tuple[Registry, Selection]:
    """The registry (at --head with --changed-only) and the stacks the options select."""
    base_registry: Registry | None = None
    if changed_only and base is None:
        return _since_recorded(registry_dir, stack_globs, head, environment)
    if changed_only:
        assert base is not None
        base_registry = _at(registry_dir, base)
        head_registry = _at(registry_dir, head)
        if head_registry is None:
            raise CommandError(f"{registry_dir} does not exist at {head}", 2)
        registry = head_registry
    else:
        if base is not None:
            raise CommandError("--base is only used with --changed-only", 2)
        registry = registry_or_fail(registry_dir)
    try:
        since_base = _program_changes(registry_dir, head)
        selection = select_stacks(
            registry,
            environment,
            stack_globs,
            base=base_registry,
            changed_only=changed_only,
            program_changed=(lambda stack: since_base(base, stack)) if base is not None else None,
        )
    except SelectionError as e:
        raise CommandError(str(e), 2) from None
    for stack in selection.retired:
        console_err(
            f"warning: {stack.name} held changed tenants but its shard no longer exists in {registry_dir}: "
            "not run (move its tenants out and remove the stack deliberately)"
        )
    return registry, selection


def _cloud_db_hook(registry_dir: Path) -> AfterUp:
    from railzway.clouddb import CloudDBUnavailable, CredentialsKeyError, MigrationError, cloud_db_url, load_keys
    from railzway.engine.apply import applied_by_here, checkout_revision
    from railzway.fleet.clouddb_hook import check_cloud_db, clouddb_sync

    try:
        url = cloud_db_url()
        keys = load_keys()
        check_cloud_db(url)
    except (CloudDBUnavailable, CredentialsKeyError, MigrationError) as e:
        raise CommandError(f"{e} (fleet up syncs the Cloud DB after each stack; --no-sync skips it)", 2) from None
    revision = checkout_revision(registry_dir)
    if revision is None:
        console_err(f"warning: {registry_dir} is not a clean git checkout: no stack will record a revision")
    return clouddb_sync(url, keys, revision, applied_by_here())


def _recorded_revisions() -> dict[str, StackRevision]:
    from railzway.clouddb import CloudDBUnavailable, MigrationError, cloud_db_url, connect, stack_revisions

    try:
        with connect(cloud_db_url(), application_name="railzway fleet") as conn:
            return stack_revisions(conn)
    except (CloudDBUnavailable, MigrationError) as e:
        raise CommandError(
            f"{e} (the recorded revisions are in the Cloud DB; --base REV compares with git)", 2
        ) from None
    except psycopg.Error as e:
        raise CommandError(
            f"the Cloud DB cannot be read: {type(e).__name__} (is `railzway migrate` done?)", 2
        ) from None


def _since_recorded(
    registry_dir: Path, stack_globs: list[str], head: str, environment: str
) -> tuple[Registry, Selection]:
    head_registry = _at(registry_dir, head)
    if head_registry is None:
        raise CommandError(f"{registry_dir} does not exist at {head}", 2)
    recorded = {name: r.revision for name, r in _recorded_revisions().items()}

    def registry_at(revision: str) -> Registry | None:
        try:
            return registry_at_revision(registry_dir, revision)
        except RegistryError as e:
            for problem in e.problems:
                console_err(problem.text())
            raise CommandError(f"{registry_dir} at {revision}: invalid registry", 1) from None

    try:
        found = changed_since_recorded(
            head_registry, environment, recorded, registry_at, stack_globs, _program_changes(registry_dir, head)
        )
    except SelectionError as e:
        raise CommandError(str(e), 2) from None
    for name, why in found.reasons.items():
        console_err(f"{name}: {why}")
    return head_registry, found.selection


@fleet_app.command("status")
def status(
    registry_dir: Path = REGISTRY_OPTION,
    environment: str = ENVIRONMENT_OPTION,
    head: str = typer.Option(
        "HEAD", "--head", metavar="REV", help="The branch head to compare with (git fetch first)."
    ),
    output_format: str = typer.Option("table", "--format", help="table, or json."),
) -> None:
    """Each stack's recorded registry revision (when, by whom) and its drift from the branch head."""
    from railzway.engine.revision_status import stack_statuses
    from railzway.registry.git import Git, GitError

    if output_format not in ("table", "json"):
        raise CommandError(f"--format must be table or json, not {output_format!r}", 2)
    registry = registry_or_fail(registry_dir)
    names = [s.name for s in select_stacks(registry, environment).stacks]
    recorded = _recorded_revisions()
    directory = registry_dir.resolve()
    try:
        top = Path(Git(directory)("rev-parse", "--show-toplevel").strip())
        git = Git(top)
        head_commit = git("rev-parse", "--verify", f"{head}^{{commit}}").strip()
    except GitError as e:
        raise CommandError(f"{registry_dir} is not in a git checkout with revision {head}: {e}", 2) from None
    relative = directory.relative_to(top.resolve()).as_posix()
    statuses = stack_statuses(git, head_commit, recorded, names, relative)
    if output_format == "json":
        print(json.dumps([s.as_dict() for s in statuses], indent=2))
        return
    table = Table(title=f"{environment}: recorded revisions against {head} ({head_commit[:12]})")
    for column in ("stack", "revision", "applied at", "applied by", "drift"):
        table.add_column(column)
    for s in statuses:
        table.add_row(
            s.stack,
            "-" if s.recorded is None else s.recorded.revision[:12],
            "-" if s.recorded is None else s.recorded.applied_at.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "-" if s.recorded is None else s.recorded.applied_by,
            s.text(),
        )
    Console(width=200).print(table)
    drifted = sum(1 for s in statuses if not s.current)
    print(f"{len(statuses)} stacks, {drifted} not at {head}")


def _program_changes(registry_dir: Path, head: str) -> Callable[[str, str], bool]:
    """`(base, stack) -> bool`: whether the program, the policy pack, the pins or the stack's own settings
    changed between `base` and `head` (each base's diff read once)."""
    program = program_files(PROJECT_ROOT)
    diffs: dict[str, frozenset[Path]] = {}

    def changed_since(base: str, stack: str) -> bool:
        if base not in diffs:
            try:
                diffs[base] = changed_paths(registry_dir, base, head)
            except RevisionError as e:
                raise CommandError(str(e), 2) from None
        return program_changed(diffs[base], program, stack_settings(PROJECT_ROOT, stack))

    return changed_since


def _at(registry_dir: Path, revision: str) -> Registry | None:
    try:
        return registry_at_revision(registry_dir, revision)
    except RevisionError as e:
        raise CommandError(str(e), 2) from None
    except RegistryError as e:
        for problem in e.problems:
            console_err(problem.text())
        raise CommandError(f"{registry_dir} at {revision}: invalid registry", 1) from None


def register(app: typer.Typer) -> None:
    app.add_typer(fleet_app, name="fleet")
