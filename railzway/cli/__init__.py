"""The `railzway` command line: one thin command per verb, each in its own module.

A command parses its arguments, calls the library and prints. Errors reach the operator as one line on
stderr and a non-zero exit; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import sys

import click
import typer

from railzway.cli import (
    adopt_command,
    assign_shard_command,
    audit_command,
    backup_command,
    fleet_command,
    migrate_command,
    move_command,
    purge_command,
    rekey_command,
    report_command,
    restore_command,
    serve_command,
    sync_command,
    validate_command,
)
from railzway.cli.common import CommandError, console_err, state
from railzway.cli.manpage import man_page_style

app = typer.Typer(
    name="railzway",
    help="Operate the Railzway Cloud tenant fleet: registry, Cloud DB, audit, service and shard stacks.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    # Wide enough that `railzway` with no command lists every command on one line, untruncated.
    context_settings={"help_option_names": ["-h", "--help"], "terminal_width": 120, "max_content_width": 120},
)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show a traceback when a command fails."),
) -> None:
    state.debug = debug
    if ctx.invoked_subcommand is None:
        # As click does for any other missing argument: the usage on stderr and exit 2, so a script that
        # forgot its command fails instead of passing.
        typer.echo(ctx.get_help(), err=True)
        typer.echo("\nerror: missing command (one of the commands above)", err=True)
        raise typer.Exit(2)


# The order here is the order `--help` lists the commands in.
for _command in (
    validate_command,
    audit_command,
    report_command,
    migrate_command,
    sync_command,
    rekey_command,
    fleet_command,
    assign_shard_command,
    move_command,
    serve_command,
    adopt_command,
    backup_command,
    restore_command,
    purge_command,
):
    _command.register(app)


def command() -> click.Command:
    """The click command tree of `app`, its help in man-page style (`railzway.cli.manpage`)."""
    return man_page_style(typer.main.get_command(app))


def main() -> None:
    """Entry point: run the app, turning any failure into a clean message and exit status."""
    try:
        code = command().main(standalone_mode=False)
        # Without standalone mode, `raise typer.Exit(n)` inside a command comes back as a return value.
        if isinstance(code, int) and code:
            sys.exit(code)
    except CommandError as e:
        console_err(f"error: {e.message}")
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        console_err("aborted")
        sys.exit(130)
    except Exception as e:  # the last line of defence: operators get a sentence, not a traceback
        # typer now raises its own click-compatible usage errors (typer.TyperException, exit 2), not click's.
        if isinstance(e, click.ClickException | typer.TyperException) and hasattr(e, "show"):
            e.show()
            sys.exit(getattr(e, "exit_code", 2))
        if state.debug:
            raise
        console_err(f"error: {type(e).__name__}: {e} (run with --debug for the traceback)")
        sys.exit(1)
