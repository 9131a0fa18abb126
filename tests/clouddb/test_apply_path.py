"""The one apply path (`railzway.engine.apply`): up -> sync -> record the revision, and its one failure classification.

The Cloud DB is the session's real PostgreSQL; the engine is a `StackRunner` returning a result or raising
what the real one raises.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from clouddb_data import outputs, tenant
from pulumi import automation as auto

from railzway import clouddb
from railzway.clouddb import CloudDBUnavailable, KeyRing, OutputsError, SchemaOutOfDate, stack_revisions
from railzway.engine.apply import (
    NO_CLI,
    ApplyFailed,
    CloudDB,
    applied_by_here,
    apply_stack,
    checkout_revision,
    classify,
    classify_sync,
    sync_and_record,
)
from railzway.engine.stacks import Changes, OnOutput, PulumiUnavailable, StackLocked, StackRef, StackResult, tenant_urn
from railzway.registry.location import PROJECT_ROOT, registry_dir

COMMIT = "a" * 40


class Engine:
    """A `StackRunner` whose `up` returns these outputs, or raises `error`; it records its targets."""

    def __init__(self, result_outputs: dict[str, Any] | None = None, error: Exception | None = None) -> None:
        self.result_outputs = result_outputs or {}
        self.error = error
        self.targets: list[Sequence[str]] = []

    def run(
        self, stack: StackRef, operation: str, *, targets: Sequence[str] = (), on_output: OnOutput | None = None
    ) -> StackResult:
        self.targets.append(targets)
        if self.error is not None:
            raise self.error
        return StackResult(stack.name, "up", Changes(creates=2), self.result_outputs)

    def outputs(self, stack: StackRef) -> dict[str, Any]:
        return self.result_outputs


def rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT org_id, source_stack, current_version FROM instances ORDER BY org_id").fetchall()


def test_a_whole_stack_apply_syncs_every_tenant_and_records_the_revision(cloud_db: str, keys: KeyRing) -> None:
    engine = Engine(outputs(tenant(1001), tenant(1002)))
    applied = apply_stack(
        engine, StackRef("prod-eu-west-00"), CloudDB(cloud_db, keys), revision=COMMIT, applied_by="workflow run 1"
    )
    assert engine.targets == [[]]
    assert (applied.synced.inserted, applied.missing) == (2, ())
    assert rows(cloud_db) == [(1001, "prod-eu-west-00", "1.8.2"), (1002, "prod-eu-west-00", "1.8.2")]
    with psycopg.connect(cloud_db) as conn:
        recorded = stack_revisions(conn)["prod-eu-west-00"]
    assert (recorded.revision, recorded.applied_by) == (COMMIT, "workflow run 1")


def test_a_targeted_apply_syncs_only_its_orgs_and_names_the_ones_the_outputs_lack(cloud_db: str, keys: KeyRing) -> None:
    engine = Engine(outputs(tenant(1001), tenant(1002)))
    applied = apply_stack(
        engine,
        StackRef("dev"),
        CloudDB(cloud_db, keys),
        orgs=[1002, 1009],
        revision=None,
        applied_by="service request r",
    )
    assert engine.targets == [[tenant_urn("dev", 1002), tenant_urn("dev", 1009)]]
    assert applied.missing == (1009,)
    assert rows(cloud_db) == [(1002, "dev", "1.8.2")]
    assert applied.recorded is None


def test_a_later_revision_replaces_the_recorded_one(cloud_db: str, keys: KeyRing) -> None:
    result = StackResult("dev", "up", Changes(), outputs(tenant(1001)))
    sync_and_record(CloudDB(cloud_db, keys), result, revision=COMMIT, applied_by="one")
    again = sync_and_record(CloudDB(cloud_db, keys), result, revision="b" * 40, applied_by="two")
    assert again.recorded is not None and (again.recorded.revision, again.recorded.applied_by) == ("b" * 40, "two")
    with psycopg.connect(cloud_db) as conn:
        assert list(stack_revisions(conn)) == ["dev"]


def test_a_cloud_db_without_the_revisions_table_is_a_permanent_failure_naming_migrate(
    new_database: Callable[[], str], keys: KeyRing
) -> None:
    url = new_database()
    with psycopg.connect(url) as conn:
        clouddb.migrate_to(conn, 6)
    with pytest.raises(ApplyFailed) as caught:
        sync_and_record(
            CloudDB(url, keys), StackResult("dev", "up", Changes(), outputs(tenant(1))), revision=None, applied_by="x"
        )
    assert (caught.value.transient, caught.value.reason) == (
        False,
        "the update ran, but the Cloud DB schema is not current: run `python -m railzway migrate`",
    )


def test_an_unreachable_cloud_db_is_transient(keys: KeyRing) -> None:
    with pytest.raises(ApplyFailed) as caught:
        sync_and_record(
            CloudDB("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", keys),
            StackResult("dev", "up", Changes(), outputs(tenant(1))),
            revision=COMMIT,
            applied_by="x",
        )
    assert (caught.value.transient, caught.value.reason) == (
        True,
        "the update ran, but the Cloud DB did not answer for the sync",
    )


@pytest.mark.parametrize(
    ("error", "transient", "reason"),
    [
        (StackLocked("dev"), True, "another update of stack dev was running"),
        (PulumiUnavailable("gone"), False, NO_CLI),
        (
            auto.CommandError(auto._cmd.CommandResult("password=hunter2", "error: boom hunter2", 255)),
            True,
            "pulumi up of stack dev failed; the log has the engine's message",
        ),
        (
            RuntimeError("surprise"),
            False,
            "an unexpected error stopped the update of stack dev; the log has the details",
        ),
    ],
)
def test_engine_failures_are_classified_once(error: Exception, transient: bool, reason: str) -> None:
    failed = classify("dev", error)
    assert (failed.transient, failed.reason) == (transient, reason)


@pytest.mark.parametrize(
    ("error", "transient", "reason"),
    [
        (
            OutputsError(["org 7: db_port is missing"]),
            False,
            "the update ran, but the stack's outputs cannot be synced to the Cloud DB: org 7: db_port is missing",
        ),
        (
            SchemaOutOfDate("old"),
            False,
            "the update ran, but the Cloud DB schema is not current: run `python -m railzway migrate`",
        ),
        (CloudDBUnavailable("down"), True, "the update ran, but the Cloud DB did not answer for the sync"),
    ],
)
def test_sync_failures_are_classified_once(error: Exception, transient: bool, reason: str) -> None:
    failed = classify_sync("dev", error)
    assert (failed.transient, failed.reason) == (transient, reason)


def test_the_checkout_revision_is_the_head_of_a_clean_registry_and_none_otherwise(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "tenants").mkdir(parents=True)
    (repo / "tenants" / "tiers.yaml").write_text("tiers: {}\n")
    assert checkout_revision(repo / "tenants") is None  # not a git checkout
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert checkout_revision(repo / "tenants") == head.strip()
    (repo / "elsewhere.txt").write_text("outside the registry does not matter\n")
    assert checkout_revision(repo / "tenants") == head.strip()
    (repo / "tenants" / "orgs.yaml").write_text("uncommitted\n")
    assert checkout_revision(repo / "tenants") is None


def test_a_workflow_run_applies_as_itself() -> None:
    env = {"GITHUB_RUN_ID": "42", "GITHUB_REPOSITORY": "railzway/cloud", "GITHUB_SERVER_URL": "https://github.com"}
    assert applied_by_here(env) == "workflow run https://github.com/railzway/cloud/actions/runs/42"
    assert "@" in applied_by_here({})


def test_the_registry_directory_is_the_environment_then_the_stack_setting_then_tenants() -> None:
    assert registry_dir("custom", {"RAILZWAY_REGISTRY_DIR": "/srv/snapshot/tenants"}) == Path("/srv/snapshot/tenants")
    assert registry_dir("custom", {}) == PROJECT_ROOT / "custom"
    assert registry_dir("/abs/tenants", {}) == Path("/abs/tenants")
    assert registry_dir(None, {}) == PROJECT_ROOT / "tenants"
