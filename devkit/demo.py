"""`make demo`: the whole flow on one machine, with nothing but the README's install command before it.

A throwaway PostgreSQL (both the tenants' server and the Cloud DB), a local `file://` Pulumi backend with
a passphrase, the shipped registry deployed to a `demo` stack, the Cloud DB sync, the audit and the
report. Everything lives in `.demo/` (git-ignored) until `make demo-down` removes it.

What this machine lacks is said up front and skipped, never failed half-way: without the `pulumi` CLI
the demo shows what `up` would declare (the program under Pulumi's mocks) and audits the server as it
is; without a Nomad agent (NOMAD_ADDR unset) the demo stack declares the databases alone, which is a
supported configuration (a region without `nomad`).

Each step runs the real command (`python -m railzway ...`) in a subprocess, so the demo shows exactly
what an operator would type.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import gc
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devkit.localpg import LocalPostgres, find_bindir
from railzway.registry import naming
from railzway.registry.loader import load_registry

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Overridable so tests can run a demo beside a developer's own.
DEMO_DIR = Path(os.environ.get("RAILZWAY_DEMO_DIR", PROJECT_DIR / ".demo"))
STACK = "demo"
CLOUD_DB = "railzway_cloud"
# The region's provisioning admin, with the one-time region set-up (README.md): the program refuses to run
# the provider as an admin whose sessions a tenant database could steer, such as the bare `postgres`.
ADMIN = "provisioner"
Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoState:
    """What `demo up` leaves in `.demo/state.json` for `demo down` and for the operator."""

    port: int
    pg_root: str
    admin_password: str
    credentials_key: str
    passphrase: str

    def admin_url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}:{self.admin_password}@127.0.0.1:{self.port}/{database}"

    def provisioner_url(self) -> str:
        """The region's provisioning admin: what the program, the audit and the report use."""
        return self.admin_url(user=ADMIN)

    def env(self) -> dict[str, str]:
        """The environment every demo command runs with."""
        return {
            "RAILZWAY_CLOUD_DB_URL": self.admin_url(CLOUD_DB),
            "RAILZWAY_CREDENTIALS_KEYS": self.credentials_key,
            "PULUMI_BACKEND_URL": f"file://{DEMO_DIR / 'backend'}",
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
            "PGPASSWORD": self.admin_password,
            "RAILZWAY_STACK": STACK,
        }


class DemoAlreadyRunning(Exception):
    """`.demo/` holds a running demo: nothing was started."""

    def __init__(self) -> None:
        super().__init__(f"a demo is already running (its state is in {DEMO_DIR}): `make demo-down` first")


def up(say: Say) -> int:
    """Run the demo; returns the exit status (0 when every step that ran did what it should)."""
    if (DEMO_DIR / "state.json").exists():
        raise DemoAlreadyRunning()
    pulumi = shutil.which("pulumi")
    nomad_addr = os.environ.get("NOMAD_ADDR")
    say("Railzway Cloud demo")
    say(
        f"  pulumi CLI : {'found at ' + pulumi if pulumi else 'NOT on PATH -> skipping `pulumi up` and the sync; showing the plan under mocks instead'}"
    )
    say(
        f"  Nomad      : {'NOMAD_ADDR=' + nomad_addr if nomad_addr else 'no agent (NOMAD_ADDR unset) -> databases only (regions without nomad are supported)'}"
    )
    find_bindir()  # a clear error now rather than half-way

    DEMO_DIR.mkdir(exist_ok=True)
    # The server's files live in a fresh system temp directory, which the postgres user can always reach
    # (a clone under /root could not be), and `demo down` removes.
    server = LocalPostgres()
    server.start()
    state = DemoState(
        port=server.port,
        pg_root=str(server.root),
        admin_password=server.password,
        credentials_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        passphrase=secrets.token_urlsafe(24),
    )
    # Secrets of a throwaway server, kept for `demo down` and for the operator's shell; never printed.
    for name, text in (
        ("state.json", json.dumps(state.__dict__)),
        ("env", "".join(f"{key}={value}\n" for key, value in state.env().items())),
    ):
        (DEMO_DIR / name).write_text(text)
        os.chmod(DEMO_DIR / name, 0o600)
    say(f"\n[1/6] PostgreSQL started on 127.0.0.1:{state.port} (data in {state.pg_root})")

    env = {**os.environ, **state.env()}
    (DEMO_DIR / "backend").mkdir(exist_ok=True)
    _create_database(state, CLOUD_DB)
    _region_setup(state)
    status = _step(say, "[2/6] Cloud DB migrations", ["migrate"], env)

    registry = load_registry(PROJECT_DIR / "tenants")
    if pulumi:
        _write_stack_config(state, nomad_addr)
        status |= _deploy(say, env)
        status |= _step(say, "[4/6] Cloud DB sync of the stack's outputs", ["sync", "--stack", STACK], env)
    else:
        say(
            "\n[3/6] pulumi up: SKIPPED (the pulumi CLI is not on PATH). What `up` would declare, under Pulumi's mocks:"
        )
        _show_plan(say, state, nomad_addr)
        say("\n[4/6] Cloud DB sync: SKIPPED (nothing was deployed)")

    audit_args = ["audit", "--admin-url", state.provisioner_url(), "--registry", "tenants"]
    if pulumi:
        status |= _step(say, "[5/6] audit: isolation and drift on the live server (expected: clean)", audit_args, env)
    else:
        # Nothing was deployed, so the audit must fail: its findings are the expected result of this step.
        failed = _step(
            say,
            "[5/6] audit of the live server (nothing deployed, so it reports every tenant missing)",
            audit_args,
            env,
            last_lines=2,
        )
        say(
            "  -> expected result: every tenant is missing because nothing was deployed (exit 1 is correct here)"
            if failed
            else "  -> unexpected: the audit passed although nothing was deployed"
        )
        status |= 0 if failed else 1
    status |= _step(
        say,
        "[6/6] report: per-tenant size and connections",
        ["report", "--admin-url", state.provisioner_url(), "--registry", "tenants"],
        env,
    )

    say(
        "\nWhere each tenant's database is:"
        if pulumi
        else "\nWhere each tenant's database would be (nothing was deployed):"
    )
    for org_id, tenant in sorted(registry.tenants.items()):
        state_note = " (terminated: no logins; data retained)" if tenant.status == "terminated" else ""
        say(
            f"  org {org_id:>5}  {tenant.region:8} postgres://{naming.role_name(org_id)}@127.0.0.1:{state.port}/{naming.database_name(org_id)}{state_note}"
        )
    if pulumi:
        say("\nTo connect as a tenant, take its password from the stack (it is never printed here):")
        say("  set -a; . .demo/env; set +a   # the demo's backend, passphrase and URLs (file mode 0600)")
        say(f"  pulumi stack output tenants --show-secrets --stack {STACK}")
    else:
        say("\nNothing was deployed, so these databases do not exist yet and no tenant has a password.")
        say(
            "To deploy them, install the pulumi CLI (https://www.pulumi.com/docs/install/) and its plugins "
            "(README.md, End-to-end tests), then `make demo-down && make demo`."
        )
    say("Clean up with `make demo-down`.")
    return status


def down(say: Say) -> int:
    """Stop the demo's server and remove `.demo/`."""
    if not DEMO_DIR.exists():
        say("No demo to stop.")
        return 0
    state_file = DEMO_DIR / "state.json"
    if state_file.exists():
        pg_root = Path(json.loads(state_file.read_text())["pg_root"])
        LocalPostgres.existing(pg_root).stop()
        shutil.rmtree(pg_root, ignore_errors=True)
    (PROJECT_DIR / f"Pulumi.{STACK}.yaml").unlink(missing_ok=True)
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    say("Demo stopped; .demo/ removed.")
    return 0


def _deploy(say: Say, env: Mapping[str, str]) -> int:
    from railzway.engine.stacks import AutomationStacks, StackRef

    say("\n[3/6] pulumi up (stack demo, file:// backend in .demo/backend)")
    runner = AutomationStacks(
        PROJECT_DIR, env_vars={k: env[k] for k in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PGPASSWORD")}
    )
    try:
        result = runner.run(StackRef(STACK), "up", on_output=lambda line: None)
    except Exception as e:  # the engine's error is the operator's to read
        say(f"  failed: {e}")
        return 1
    changes = result.changes
    say(f"  created {changes.creates}, updated {changes.updates}, deleted {changes.deletes}")
    return 0


def _show_plan(say: Say, state: DemoState, nomad_addr: str | None) -> None:
    from devkit.mockrun import run_program

    run = run_program(PROJECT_DIR / "tenants", _stack_config(state, nomad_addr), stack=STACK)
    # Pulumi's SDK leaves the event loops of a mock run open; close them now, or the interpreter's exit
    # prints "Exception ignored" noise from their finalizers. The demo runs the program once.
    for loop in [obj for obj in gc.get_objects() if isinstance(obj, asyncio.AbstractEventLoop)]:
        if not loop.is_running() and not loop.is_closed():
            loop.close()
    counts = Counter(resource.type for resource in run.resources)
    for type_token, count in sorted(counts.items()):
        say(f"  {count:>3} x {type_token}")


def _stack_config(state: DemoState, nomad_addr: str | None) -> dict[str, Any]:
    postgres = {
        "host": "127.0.0.1",
        "port": state.port,
        "username": ADMIN,
        "sslmode": "disable",
        "tenantHost": "127.0.0.1",
    }
    regions: dict[str, Any] = {"eu-west": {"postgres": postgres}, "us-east": {"postgres": postgres}}
    if nomad_addr:
        regions["eu-west"]["nomad"] = {
            "address": nomad_addr,
            "region": "global",
            "namespace": "default",
            "datacenters": ["dc1"],
        }
    return {"regions": regions}


def _write_stack_config(state: DemoState, nomad_addr: str | None) -> None:
    # The admin password is not in the file: the provider reads PGPASSWORD from the demo's environment.
    text = "# Written by `make demo`; removed by `make demo-down`.\n" + yaml.safe_dump(
        {"config": {f"railzway:{key}": value for key, value in _stack_config(state, nomad_addr).items()}},
        sort_keys=False,
    )
    (PROJECT_DIR / f"Pulumi.{STACK}.yaml").write_text(text)


def _create_database(state: DemoState, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(state.admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _region_setup(state: DemoState) -> None:
    """The one-time region set-up of README.md: a provisioning admin whose search_path no tenant can steer."""
    import psycopg
    from psycopg import sql

    from railzway.admin import session_rules as admin_rules

    with psycopg.connect(state.admin_url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} SUPERUSER LOGIN PASSWORD {}").format(
                sql.Identifier(ADMIN), sql.Literal(state.admin_password)
            )
        )
        conn.execute(admin_rules.setup_sql(ADMIN).encode())


def _step(say: Say, title: str, args: list[str], env: Mapping[str, str], last_lines: int | None = None) -> int:
    say(f"\n{title}\n  $ python -m railzway {' '.join(_masked(args))}")
    done = subprocess.run(
        [sys.executable, "-m", "railzway", *args], cwd=PROJECT_DIR, env=dict(env), capture_output=True, text=True
    )
    lines = (done.stdout + done.stderr).rstrip().splitlines()
    if last_lines is not None and len(lines) > last_lines:
        say(f"  ... ({len(lines) - last_lines} lines elided)")
        lines = lines[-last_lines:]
    for line in lines:
        say(f"  {line}")
    return 0 if done.returncode == 0 else 1


def _masked(args: list[str]) -> list[str]:
    return [
        arg.split("://")[0] + "://" + arg.split("://", 1)[1].split(":", 1)[0] + ":***@" + arg.split("@", 1)[1]
        if "://" in arg and "@" in arg
        else arg
        for arg in args
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m devkit.demo up|down`: what `make demo` and `make demo-down` run."""
    parser = argparse.ArgumentParser(
        prog="python -m devkit.demo",
        description="The local demo: a throwaway PostgreSQL, a file:// backend, the dev registry.",
    )
    parser.add_argument("verb", choices=["up", "down"], help="up: start and run everything; down: remove .demo/")
    verb = parser.parse_args(argv).verb
    say = functools.partial(print, flush=True)
    if verb == "down":
        return down(say)
    try:
        status = up(say)
    except DemoAlreadyRunning as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if status:
        print("error: the demo finished with a failed step (see above)", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
