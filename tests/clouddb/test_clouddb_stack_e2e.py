"""`sync --stack NAME` with the real engine: a deployed stack's outputs read through the Automation API.

The stack is a tiny Pulumi YAML program (the YAML language host ships with the `pulumi` CLI, so no
provider plugin is needed) that exports a `tenants` output of exactly the component's shape, secrets
included, in a `file://` backend in a temporary directory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from clouddb_data import tenant
from conftest import CliRunner

from railzway import clouddb
from railzway.clouddb import KeyRing

pytestmark = [
    pytest.mark.e2e,
]

log = logging.getLogger(__name__)
STACK = "sync-e2e"


def program(tenants: list[dict[str, object]]) -> dict[str, object]:
    exported = {}
    for values in tenants:
        entry = dict(values)
        entry["db_password"] = {"fn::secret": values["db_password"]}
        entry["database_url"] = {"fn::secret": values["database_url"]}
        exported[str(values["org_id"])] = entry
    return {"name": "railzway-sync-e2e", "runtime": "yaml", "outputs": {"tenants": exported}}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    from pulumi import automation as auto

    root = tmp_path_factory.mktemp("pulumi")
    project = root / "project"
    project.mkdir()
    without_job = {k: v for k, v in tenant(1002, status="stopped").items() if k != "nomad_job_id"}
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(program([tenant(1001), without_job])))
    env = {"PULUMI_BACKEND_URL": f"file://{root / 'state'}", "PULUMI_CONFIG_PASSPHRASE": "sync-e2e-passphrase"}
    (root / "state").mkdir()
    stack = auto.create_stack(STACK, work_dir=str(project), opts=auto.LocalWorkspaceOptions(env_vars=env))
    try:
        stack.up(on_output=log.info)
        yield project, env
    finally:
        stack.destroy(on_output=log.info)
        stack.workspace.remove_stack(STACK)


def test_sync_stack_writes_the_deployed_outputs(
    deployed: tuple[Path, dict[str, str]], run_cli: CliRunner, conn: psycopg.Connection, keys: KeyRing
) -> None:
    project, env = deployed
    result = run_cli("sync", "--stack", STACK, "--work-dir", str(project), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "synced 2 tenants: 2 inserted, 0 updated, 0 unchanged, 0 absent"
    assert tenant(1001)["db_password"] not in result.stdout + result.stderr
    rows = conn.execute("SELECT org_id, source_stack, nomad_job_id, status FROM instances ORDER BY org_id").fetchall()
    assert rows == [(1001, STACK, "railzway-org-1001", "running"), (1002, STACK, None, "stopped")]
    assert clouddb.credentials(conn, keys)[1001].password == tenant(1001)["db_password"]


def test_sync_stack_of_an_unknown_stack_is_a_clear_error(
    deployed: tuple[Path, dict[str, str]], run_cli: CliRunner
) -> None:
    project, env = deployed
    result = run_cli("sync", "--stack", "no-such-stack", "--work-dir", str(project), env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "no-such-stack" in result.stderr
