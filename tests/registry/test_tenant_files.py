"""Writing tenant files: an edit changes only the lines it means to change.

People comment tenant files and quote values their own way; `assign-shard`, `move` and the service edit
the same files. Each test edits a real file and compares the diff line by line.
"""

from __future__ import annotations

import datetime as dt
import difflib
import subprocess
import sys
from pathlib import Path

import pytest

from railzway.registry.access import RegistryAccess
from railzway.registry.loader import load_registry, parse_tenant
from railzway.registry.model import Registry, ScheduledDowngrade
from railzway.registry.tenant_files import tenant_text, write_tenant
from tests.conftest import PROJECT

COMMENTED = """\
# Acme Corp: signed 2026-03, see the contract in the CRM.
org_id: 3001        # never changes
tier: growth
version: "1.10"     # pinned: 1.11 breaks their webhook parser
status: running
region: eu-west     # Frankfurt, GDPR
# Billing reference below; ask finance before changing it.
subscription_id: sub_F4gH5jK6lZ7x

downgrade:
  tier: starter     # agreed with sales
  at: 2027-01-31
"""


def diff(before: str, after: str) -> list[str]:
    """The changed lines only: `-old` and `+new`."""
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.fixture
def registry(registry_dir: Path) -> Registry:
    return load_registry(registry_dir)


def write(registry_dir: Path, text: str) -> Path:
    path = registry_dir / "orgs" / "3001.yaml"
    path.write_text(text)
    return path


def test_assign_shard_adds_one_line_under_the_region_and_keeps_every_comment(registry_dir: Path) -> None:
    path = write(registry_dir, COMMENTED)
    result = subprocess.run(
        [sys.executable, "-m", "railzway", "assign-shard", "--registry", str(registry_dir)],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    after = path.read_text()
    shard = load_registry(registry_dir).tenants[3001].shard
    assert diff(COMMENTED, after) == [f"+shard: {shard}"]
    # The new line goes right under `region:`, above the comment that belongs to subscription_id.
    lines = after.splitlines()
    at = lines.index(f"shard: {shard}")
    assert lines[at - 1] == "region: eu-west     # Frankfurt, GDPR"
    assert lines[at + 1] == "# Billing reference below; ask finance before changing it."


def test_a_service_version_change_keeps_the_quotes_and_adds_no_rotation(registry_dir: Path) -> None:
    text = COMMENTED.replace(
        "region: eu-west     # Frankfurt, GDPR\n", "region: eu-west     # Frankfurt, GDPR\nshard: 1\n"
    )
    path = write(registry_dir, text)
    access = RegistryAccess(registry_dir)
    current = access.tenant(3001)
    assert current is not None
    undo = access.write(current.model_copy(update={"version": "1.11"}))
    assert diff(text, path.read_text()) == [
        '-version: "1.10"     # pinned: 1.11 breaks their webhook parser',
        '+version: "1.11"     # pinned: 1.11 breaks their webhook parser',
    ]
    assert "password_rotation" not in path.read_text()
    undo()
    assert path.read_text() == text


def test_terminating_removes_only_the_downgrade_block(registry_dir: Path, registry: Registry) -> None:
    text = COMMENTED.replace("status: running\n", "status: running\nshard: 1\n")
    tenant = parse_tenant(text, registry)
    after = tenant_text(tenant.model_copy(update={"status": "terminated", "downgrade": None}), text.encode())
    assert diff(text, after) == [
        "-status: running",
        "+status: terminated",
        "-",  # the blank line that set the block apart
        "-downgrade:",
        "-  tier: starter     # agreed with sales",
        "-  at: 2027-01-31",
    ]


def test_a_rescheduled_downgrade_changes_its_date_line_only(registry: Registry) -> None:
    text = COMMENTED.replace("status: running\n", "status: running\nshard: 1\n")
    tenant = parse_tenant(text, registry)
    moved = ScheduledDowngrade(tier="starter", at=dt.date(2027, 2, 28))
    after = tenant_text(tenant.model_copy(update={"downgrade": moved}), text.encode())
    assert diff(text, after) == ["-  at: 2027-01-31", "+  at: 2027-02-28"]


def test_a_four_space_indented_block_keeps_its_indentation(registry: Registry) -> None:
    text = 'org_id: 3001\ntier: growth\nversion: "1.8.2"\nregion: eu-west\nshard: 0\ndowngrade:\n    tier: starter\n    at: 2027-01-31\n'
    tenant = parse_tenant(text, registry)
    after = tenant_text(tenant.model_copy(update={"version": "1.9.0"}), text.encode())
    assert diff(text, after) == ['-version: "1.8.2"', '+version: "1.9.0"']


def test_a_new_value_that_yaml_would_read_as_a_number_is_quoted(registry: Registry) -> None:
    text = "org_id: 3001\ntier: starter\nversion: v2\nregion: eu-west\nshard: 0\n"
    tenant = parse_tenant(text, registry)
    after = tenant_text(tenant.model_copy(update={"version": "1.10", "password_rotation": "2026-12-01"}), text.encode())
    assert diff(text, after) == ["-version: v2", '+version: "1.10"', '+password_rotation: "2026-12-01"']
    assert parse_tenant(after, registry).version == "1.10"


def test_a_new_file_is_written_in_field_order_without_defaults_it_does_not_need(
    registry_dir: Path, registry: Registry
) -> None:
    tenant = parse_tenant("org_id: 3001\ntier: starter\nversion: '1.10'\nregion: us-east\nshard: 0\n", registry)
    path = write_tenant(registry_dir, tenant)
    assert path.read_text() == (
        'org_id: 3001\ntier: starter\nversion: "1.10"\nstatus: running\nregion: us-east\nshard: 0\n'
    )
    assert load_registry(registry_dir).tenants[3001] == tenant
