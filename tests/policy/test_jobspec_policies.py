"""The Nomad job validators, called directly on jobspecs rendered by `railzway.tenant.jobspec` and on variants
that break one rule each."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from policy_args import component_urn, resource_violations

from railzway.guardrails.engine_values import NOMAD_JOB_TYPE
from railzway.guardrails.resource_policies import job_resources_validator, jobspec_validator, pinned_image_validator
from railzway.guardrails.tier_catalogue import REGISTRY_DIR_CONFIG
from railzway.tenant import jobspec

SHIPPED = {REGISTRY_DIR_CONFIG: str(Path(__file__).resolve().parents[2] / "tenants")}
TASK = "Job.TaskGroups[0].Tasks[0]"


def job_document(**changes: Any) -> dict[str, Any]:
    """The starter-tier job of org 1002, as the component renders it."""
    arguments: dict[str, Any] = {
        "org_id": 1002,
        "image_repository": "ghcr.io/smallbiznis/railzway",
        "version": "1.8.2",
        "cpu": 250,
        "memory_mb": 256,
        "stopped": False,
        "region": "global",
        "namespace": "default",
        "datacenters": ["dc1"],
    }
    arguments.update(changes)
    return jobspec.build_jobspec(**arguments)


def job_props(
    document: dict[str, Any] | None = None, edit: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    document = document if document is not None else job_document()
    if edit is not None:
        edit(document["Job"]["TaskGroups"][0]["Tasks"][0])
    return {"jobspec": json.dumps(document, sort_keys=True, indent=2), "json": True, "purgeOnDestroy": False}


def check(validator: Callable[..., None], props: dict[str, Any]) -> list[str]:
    return resource_violations(
        validator, NOMAD_JOB_TYPE, props, name="org-1002-job", parent=component_urn(1002), config=SHIPPED
    )


# --- nomad-jobspec-no-credentials ----------------------------------------------------------------


def test_the_rendered_jobspec_holds_no_credential_and_has_the_api_shape() -> None:
    assert check(jobspec_validator, job_props()) == []


def test_a_jobspec_not_declared_as_json_is_one_violation() -> None:
    violations = check(jobspec_validator, {**job_props(), "json": False})
    assert violations == [
        "Nomad job 'org-1002-job' sets json=False, so Nomad would read its jobspec as HCL; render it with "
        "railzway.tenant.jobspec and set json=True."
    ]


def test_a_database_url_in_a_template_is_one_violation() -> None:
    def leak(task: dict[str, Any]) -> None:
        task["Templates"][0]["EmbeddedTmpl"] = (
            "DATABASE_URL=postgres://railzway_user_1002:pw@db:5432/railzway_org_1002\n"
        )

    violations = check(jobspec_validator, job_props(edit=leak))
    assert len(violations) == 1
    assert "'org-1002-job''s jobspec contains a PostgreSQL connection URL" in violations[0]
    assert ":pw@" not in violations[0]


def test_a_password_assignment_is_one_violation() -> None:
    def leak(task: dict[str, Any]) -> None:
        task["Templates"][0]["EmbeddedTmpl"] = "DB_PASSWORD=hunter2hunter2\n"

    violations = check(jobspec_validator, job_props(edit=leak))
    assert len(violations) == 1
    assert "contains a PASSWORD= assignment" in violations[0]
    assert "hunter2" not in violations[0]


def test_an_env_block_with_a_password_is_a_credential_and_a_shape_violation() -> None:
    def leak(task: dict[str, Any]) -> None:
        task["Env"] = {"DB_PASSWORD": "hunter2hunter2"}

    violations = check(jobspec_validator, job_props(edit=leak))
    assert len(violations) == 2
    assert f"{TASK}.Env.DB_PASSWORD holds a password value" in violations[0]
    assert f"not in Nomad's JSON API shape: {TASK}.Env: not a field" in violations[1]


def test_an_hcl_style_key_is_one_violation() -> None:
    def hcl(task: dict[str, Any]) -> None:
        task["Resources"] = {"CPU": 250, "MemoryMB": 256, "memory_max": 512}

    violations = check(jobspec_validator, job_props(edit=hcl))
    assert len(violations) == 1
    assert f"{TASK}.Resources.memory_max" in violations[0]


def test_an_hcl_jobspec_is_one_violation() -> None:
    props = {"jobspec": 'job "railzway-org-1002" {\n  group "railzway" {}\n}\n', "json": True}
    violations = check(jobspec_validator, props)
    assert len(violations) == 1
    assert "is not in Nomad's JSON API shape: not valid JSON" in violations[0]


# --- nomad-job-resources-match-tier --------------------------------------------------------------


def test_a_job_sized_as_a_tier_passes() -> None:
    growth = job_props(job_document(cpu=1000, memory_mb=1024))
    assert (check(job_resources_validator, job_props()), check(job_resources_validator, growth)) == ([], [])


def test_a_task_without_memory_is_one_violation() -> None:
    def unsized(task: dict[str, Any]) -> None:
        del task["Resources"]["MemoryMB"]

    violations = check(job_resources_validator, job_props(edit=unsized))
    assert len(violations) == 1
    assert "task 0 sets no MemoryMB" in violations[0]
    assert "starter (CPU=250, MemoryMB=256)" in violations[0]


def test_a_size_that_is_no_tier_is_one_violation() -> None:
    violations = check(job_resources_validator, job_props(job_document(cpu=300, memory_mb=256)))
    assert len(violations) == 1
    assert "asks for CPU=300, MemoryMB=256, which is no tier of the catalogue" in violations[0]


def test_cpu_of_one_tier_with_memory_of_another_is_one_violation() -> None:
    violations = check(job_resources_validator, job_props(job_document(cpu=250, memory_mb=1024)))
    assert len(violations) == 1
    assert "CPU=250, MemoryMB=1024" in violations[0]


# --- nomad-job-pinned-image ----------------------------------------------------------------------


def test_a_pinned_image_passes() -> None:
    assert check(pinned_image_validator, job_props()) == []


def test_an_image_pinned_by_digest_passes() -> None:
    def digest(task: dict[str, Any]) -> None:
        task["Config"]["image"] = "ghcr.io/smallbiznis/railzway@sha256:" + "a" * 64

    assert check(pinned_image_validator, job_props(edit=digest)) == []


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("ghcr.io/smallbiznis/railzway:latest", "'latest' is not pinned"),
        ("ghcr.io/smallbiznis/railzway", "has no tag"),
        ("localhost:5000/railzway", "has no tag"),
    ],
)
def test_an_unpinned_image_is_one_violation(image: str, expected: str) -> None:
    def unpin(task: dict[str, Any]) -> None:
        task["Config"]["image"] = image

    violations = check(pinned_image_validator, job_props(edit=unpin))
    assert len(violations) == 1
    assert f"{TASK}.Config.image {image!r}" in violations[0]
    assert expected in violations[0]
    assert "set the tenant's `version` in the registry" in violations[0]


def test_job_validators_ignore_other_resources() -> None:
    props = {"jobspec": "not json", "json": False}
    for validator in (jobspec_validator, job_resources_validator, pinned_image_validator):
        assert resource_violations(validator, "nomad:index/variable:Variable", props, config=SHIPPED) == []
