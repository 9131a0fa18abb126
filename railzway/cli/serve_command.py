"""`railzway serve [--host H] [--port P]`: the provisioning service (HTTP API and queue workers)."""

from __future__ import annotations

import asyncio

import typer

from railzway.cli.common import CommandError, console_err


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="The TCP port to listen on."),
) -> None:
    """Run the provisioning service: the HTTP API and the queue's workers, configured from the environment.

    Needs RAILZWAY_CLOUD_DB_URL, RAILZWAY_CREDENTIALS_KEYS and RAILZWAY_API_TOKENS; reads the registry in
    RAILZWAY_REGISTRY_DIR (default: tenants). Run `railzway migrate` first. Logs are JSON lines on stderr.
    """
    from railzway.service import logs
    from railzway.service.server import ServeError
    from railzway.service.server import serve as run
    from railzway.service.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as e:
        # Every problem at once, one line each, so one edit of the environment fixes them all.
        for problem in e.problems[:-1]:
            console_err(f"error: {problem}")
        raise CommandError(e.problems[-1], 2) from None
    logs.configure(settings.secrets)
    try:
        asyncio.run(run(settings, host, port))
    except SettingsError as e:
        raise CommandError(str(e), 2) from None
    except ServeError as e:
        raise CommandError(str(e), 1) from None


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
