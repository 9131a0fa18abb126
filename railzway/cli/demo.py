"""`railzway demo up|down`: the one-command local demo behind `make demo` and `make demo-down`."""

from __future__ import annotations

import typer

from railzway import demo
from railzway.cli.common import CommandError

app = typer.Typer(
    help="The local demo: a throwaway PostgreSQL, a file:// backend, the dev registry.", no_args_is_help=True
)


@app.command("up")
def up() -> None:
    """Start the demo and run up, sync, audit and report (skipping what this machine lacks)."""
    try:
        status = demo.up(typer.echo)
    except demo.DemoAlreadyRunning as e:
        raise CommandError(str(e), 1) from None
    if status:
        raise CommandError("the demo finished with a failed step (see above)", status)


@app.command("down")
def down() -> None:
    """Stop the demo's PostgreSQL and remove .demo/."""
    demo.down(typer.echo)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="demo")
