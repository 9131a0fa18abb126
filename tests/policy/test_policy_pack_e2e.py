"""End to end: `pulumi preview --policy-pack policy` of the dev stack, through the Automation API, reports
no policy violation at all (mandatory or advisory).

It runs the real engine, the real provider plugins and the pack as the CLI serves it, against the test
session's PostgreSQL. It needs the `pulumi` CLI and the postgresql, nomad and random plugins; without the
CLI it is skipped. The preview creates nothing, so no Nomad agent is needed (the nomad provider parses a
JSON jobspec locally).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from devkit.localpg import LocalPostgres
from tests.e2e_support import provisioning_admin

PROJECT = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)

pytestmark = [
    pytest.mark.e2e,
]

# The working copy's Pulumi.dev.yaml is pointed at the session's server; the committed one stays as it is.
_NOT_COPIED = (".git", ".venv", "venv", "__pycache__", ".*_cache", ".hypothesis", "tests", "bench", ".demo")


@pytest.fixture(scope="module")
def dev_stack(postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The dev stack of a copy of the project, on a file:// backend in a temporary directory."""
    work = tmp_path_factory.mktemp("project") / "railzway"
    shutil.copytree(PROJECT, work, ignore=shutil.ignore_patterns(*_NOT_COPIED))
    # The program runs in the project's virtualenv and the pack in its own, as `make install` made them: the
    # pack's holds this project (editable), so its rules are this working tree's, served as the CLI serves them.
    (work / ".venv").symlink_to(PROJECT / ".venv", target_is_directory=True)
    (work / "policy" / ".venv").symlink_to(PROJECT / "policy" / ".venv", target_is_directory=True)

    settings = yaml.safe_load((work / "Pulumi.dev.yaml").read_text())
    admin = provisioning_admin(postgres)  # the program refuses an admin without the region set-up
    for region in settings["config"]["railzway:regions"].values():
        region["postgres"].update(host=postgres.host, port=postgres.port, username=admin, tenantHost=postgres.host)
    (work / "Pulumi.dev.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))

    backend = tmp_path_factory.mktemp("state")
    env = {
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": "railzway-e2e-only",
        "PGPASSWORD": postgres.password,
    }
    stack = auto.create_or_select_stack(
        stack_name="dev", work_dir=str(work), opts=auto.LocalWorkspaceOptions(env_vars=env)
    )
    try:
        yield stack
    finally:
        stack.workspace.remove_stack("dev", force=True)


def test_preview_with_the_policy_pack_reports_no_violation(dev_stack: Any) -> None:
    policy_events: list[Any] = []

    def on_event(event: Any) -> None:
        if event.policy_event is not None:
            policy_events.append(event.policy_event)

    pack = Path(dev_stack.workspace.work_dir) / "policy"
    # A mandatory violation fails the preview itself (CommandError); advisory ones only show as events.
    result = dev_stack.preview(policy_packs=[str(pack)], on_event=on_event, on_output=log.info)

    reported = [(e.policy_pack_name, e.policy_name, e.resource_urn, e.message) for e in policy_events]
    assert reported == []
    # And there was something to judge: eight tenants' components, passwords, roles, databases and grants.
    assert result.change_summary.get("create", 0) >= 8 * 5
