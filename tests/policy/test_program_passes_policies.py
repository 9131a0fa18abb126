"""The program's own resources, declared under Pulumi's mocks for the shipped registry and the dev stack's
configuration, pass every policy of the pack - through the `Policy` objects the pack serves."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi.runtime
import pytest
import yaml
from policy_args import from_run
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from devkit.mockrun import ProgramRun, run_program
from railzway.guardrails.engine_values import (
    DATABASE_TYPE,
    GRANT_TYPE,
    NOMAD_JOB_TYPE,
    NOMAD_VARIABLE_TYPE,
    RANDOM_PASSWORD_TYPE,
    ROLE_TYPE,
    TENANT_INSTANCE_TYPE,
)
from railzway.guardrails.pack import POLICIES
from railzway.guardrails.tier_catalogue import REGISTRY_DIR_CONFIG
from railzway.registry import naming

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED_REGISTRY = PROJECT / "tenants"
POLICY_CONFIG = {REGISTRY_DIR_CONFIG: str(SHIPPED_REGISTRY)}


def dev_stack_config() -> dict[str, Any]:
    """The `railzway:` values of Pulumi.dev.yaml, without the namespace."""
    document = yaml.safe_load((PROJECT / "Pulumi.dev.yaml").read_text())
    return {key.split(":", 1)[1]: value for key, value in document["config"].items()}


@pytest.fixture(scope="module")
def dev_run() -> ProgramRun:
    return run_program(SHIPPED_REGISTRY, dev_stack_config())


def violations_of(run: ProgramRun) -> list[tuple[str, str | None, str]]:
    """(policy, urn, message) for every violation any policy of the pack reports on the run."""
    resource_args, stack_args = from_run(run, POLICY_CONFIG)
    found: list[tuple[str, str | None, str]] = []

    def reporter(policy: str, resource_urn: str | None) -> Callable[[str, str | None], None]:
        def report(message: str, urn: str | None = None) -> None:
            found.append((policy, urn or resource_urn, message))

        return report

    for policy in POLICIES:
        if isinstance(policy, ResourceValidationPolicy):
            for args in resource_args:
                policy.validate(args, reporter(policy.name, args.urn))
        elif isinstance(policy, StackValidationPolicy):
            policy.validate(stack_args, reporter(policy.name, None))
    return found


def test_the_run_declares_every_kind_of_resource_the_policies_judge(dev_run: ProgramRun) -> None:
    # Without this, "no violation" below could mean "nothing was checked".
    counts = {
        t: len(dev_run.of_type(t))
        for t in (TENANT_INSTANCE_TYPE, RANDOM_PASSWORD_TYPE, ROLE_TYPE, DATABASE_TYPE, GRANT_TYPE)
    }
    # Eight tenants; two regions revoke PUBLIC on `postgres` and `template1` beside them.
    assert counts == dict.fromkeys(counts, 8) | {GRANT_TYPE: 8 + 2 * 2}
    # Running and stopped tenants of eu-west (1001-1004) have a job; 1005 is terminated, us-east has no Nomad.
    # eu-west also has its nightly backup job.
    job_ids = sorted(json.loads(r.inputs["jobspec"])["Job"]["ID"] for r in dev_run.of_type(NOMAD_JOB_TYPE))
    assert job_ids == ["railzway-backup-eu-west", *(naming.job_id(org_id) for org_id in (1001, 1002, 1003, 1004))]
    assert len(dev_run.of_type(NOMAD_VARIABLE_TYPE)) == 4


def test_the_dev_stack_passes_every_policy(dev_run: ProgramRun) -> None:
    assert violations_of(dev_run) == []


def test_the_dev_stack_passes_with_its_configuration_visible_to_the_pack(dev_run: ProgramRun) -> None:
    # The engine hands the pack the stack's configuration; the parts policy then asks it which regions
    # have Nomad instead of taking the component's word.
    pulumi.runtime.set_config("railzway:regions", json.dumps(dev_stack_config()["regions"]))
    assert violations_of(dev_run) == []


def test_a_shard_stack_passes_every_policy(registry_dir: Path) -> None:
    run = run_program(registry_dir, {**dev_stack_config(), "shards": ["eu-west/1"]})
    assert sorted(r.name for r in run.of_type(TENANT_INSTANCE_TYPE)) == ["org-1003", "org-1004"]
    assert violations_of(run) == []


def tampered(run: ProgramRun, name: str, **inputs: Any) -> ProgramRun:
    """The run with one resource's inputs changed, as a hand-edited program would declare it."""
    changed = tuple(
        dataclasses.replace(r, inputs={**r.inputs, **inputs}) if r.name == name else r for r in run.resources
    )
    return dataclasses.replace(run, resources=changed)


def test_a_hand_edited_superuser_role_in_the_program_is_caught(dev_run: ProgramRun) -> None:
    role = dev_run.get("org-1001-role")
    violations = violations_of(tampered(dev_run, role.name, superuser=True))
    assert [(policy, urn) for policy, urn, _ in violations] == [("tenant-role-no-privileges", role.urn)]


def test_a_program_without_a_revoke_grant_is_caught_by_both_stack_policies(dev_run: ProgramRun) -> None:
    kept = tuple(r for r in dev_run.resources if r.name != "org-1002-revoke-public")
    violations = violations_of(dataclasses.replace(dev_run, resources=kept))
    assert [(policy, urn) for policy, urn, _ in violations] == [
        ("tenant-database-public-revoked", dev_run.get("org-1002-database").urn),
        ("tenant-parts-unique-and-complete", dev_run.get("org-1002").urn),
    ]
