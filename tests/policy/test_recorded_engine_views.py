"""The policy pack on what the real engine sent it (`../shared/engine/`, see `recorded.py`): every policy
passes on each recorded view, and each defect planted in a recorded view is caught on the resource at fault.

The views: a create preview with Nomad (ids, passwords and Nomad items unknown), the `up` that created the
stack (eu-west without Nomad), and a no-change preview after it. The stack policies there see outputs: the
revoke grant's `privileges` is null, the component carries its registered outputs, numbers are floats.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pulumi.runtime
import pytest
from recorded import (
    PROJECT,
    TERMINATED_ROLE_PROPS,
    VIEWS,
    Found,
    Row,
    added,
    called_as,
    find,
    needs_transcripts,
    recorded_stack_rows,
    resource_args,
    resource_rows,
    row,
    stack_args,
    stack_config,
    stack_rows,
    violations,
    with_props,
    without,
)

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
from railzway.tenant import spec

pytestmark = [needs_transcripts]

POLICY_CONFIG = {REGISTRY_DIR_CONFIG: str(PROJECT / "tenants")}


def run_pack(view: str, resources: list[Row] | None = None, stack: list[Row] | None = None) -> list[Found]:
    """Every violation of the pack on a recorded view, with the resource and/or stack rows replaced."""
    stack = stack if stack is not None else stack_rows(view)
    resources = resources if resources is not None else resource_rows(view)
    return violations(POLICIES, resource_args(resources, stack, POLICY_CONFIG), stack_args(stack, POLICY_CONFIG))


def at_fault(found: list[Found]) -> list[tuple[str, str | None]]:
    return [(policy, urn) for policy, urn, _ in found]


def urn_of(view: str, name: str) -> str:
    urn: str = find(stack_rows(view), name)["urn"]
    return urn


@pytest.fixture(params=[False, True], ids=["without-stack-config", "with-stack-config"])
def stack_configuration(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Run with and without the stack's `railzway:regions` visible to the pack (the engine hands it over;
    the parts policy then asks it which regions have Nomad)."""
    yield bool(request.param)


# --- every recorded view passes ------------------------------------------------------------------


@pytest.mark.parametrize("view", VIEWS)
def test_every_policy_passes_on_the_recorded_view(view: str, stack_configuration: bool) -> None:
    if stack_configuration:
        pulumi.runtime.set_config("railzway:regions", json.dumps(stack_config(view)["regions"]))
    assert run_pack(view) == []


@pytest.mark.parametrize("view", VIEWS)
def test_the_recorded_view_holds_every_kind_of_resource_the_policies_judge(view: str) -> None:
    # Without this, "no violation" above could mean "nothing was checked".
    def count(rows: list[Row], resource_type: str) -> int:
        return sum(1 for r in rows if r["type"] == resource_type)

    stack, calls = stack_rows(view), resource_rows(view)
    kinds = (TENANT_INSTANCE_TYPE, RANDOM_PASSWORD_TYPE, ROLE_TYPE, DATABASE_TYPE)
    # Per tenant one of each, and its revoke grant; per region two more grants (`since_the_recording`).
    expected = dict.fromkeys(kinds, 8) | {GRANT_TYPE: 8 + 2 * 2}
    assert {t: count(stack, t) for t in (*kinds, GRANT_TYPE)} == expected
    assert {t: count(calls, t) for t in (*kinds, GRANT_TYPE)} == expected
    jobs = 4 if view == "preview-nomad" else 0  # 1001-1004: eu-west, not terminated
    assert (count(stack, NOMAD_JOB_TYPE), count(stack, NOMAD_VARIABLE_TYPE)) == (jobs, jobs)


@pytest.mark.parametrize("view", VIEWS)
def test_the_stack_view_of_the_revoke_is_null_and_the_resource_view_empty(view: str) -> None:
    # The representation the pack must read as one and the same revoke (see policies.grant_privileges).
    assert find(stack_rows(view), "org-1001-revoke-public")["props"]["privileges"] is None
    assert find(resource_rows(view), "org-1001-revoke-public")["props"]["privileges"] == []


# --- resource-view mutations ----------------------------------------------------------------------


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("flag", [wire for wire, _ in spec.ROLE_PRIVILEGE_FLAGS.values()])
def test_a_recorded_role_given_a_privilege_flag_is_caught(view: str, flag: str) -> None:
    found = run_pack(view, resources=with_props(resource_rows(view), "org-1001-role", **{flag: True}))
    assert at_fault(found) == [("tenant-role-no-privileges", urn_of(view, "org-1001-role"))]
    assert f"Role 'org-1001-role' (railzway_user_1001) sets {flag}=True" in found[0][2]


@pytest.mark.parametrize("view", VIEWS)
def test_a_recorded_database_owned_by_another_tenants_role_is_caught(view: str) -> None:
    found = run_pack(view, resources=with_props(resource_rows(view), "org-1001-database", owner="railzway_user_1002"))
    assert at_fault(found) == [("tenant-naming-and-ownership", urn_of(view, "org-1001-database"))]
    assert "Database 'org-1001-database' (railzway_org_1001) is owned by 'railzway_user_1002'" in found[0][2]


@pytest.mark.parametrize("view", VIEWS)
def test_a_recorded_role_without_a_connection_limit_is_caught(view: str) -> None:
    found = run_pack(view, resources=with_props(resource_rows(view), "org-1002-role", connectionLimit=-1.0))
    assert at_fault(found) == [("tenant-connection-limit", urn_of(view, "org-1002-role"))]
    assert "Role 'org-1002-role' (railzway_user_1002) has no connection limit" in found[0][2]


@pytest.mark.parametrize("view", VIEWS)
def test_a_recorded_password_made_short_is_caught(view: str) -> None:
    found = run_pack(view, resources=with_props(resource_rows(view), "org-2001-password", length=16.0))
    assert at_fault(found) == [("generated-password-strength", urn_of(view, "org-2001-password"))]
    assert "RandomPassword 'org-2001-password' has length=16" in found[0][2]


@pytest.mark.parametrize("view", VIEWS)
def test_a_recorded_password_with_unsafe_specials_is_caught(view: str) -> None:
    found = run_pack(view, resources=with_props(resource_rows(view), "org-2001-password", overrideSpecial="@/"))
    assert at_fault(found) == [("generated-password-strength", urn_of(view, "org-2001-password"))]
    assert "RandomPassword 'org-2001-password' may draw '/@'" in found[0][2]


def recorded_jobspec(view: str, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(find(resource_rows(view), name)["props"]["jobspec"])
    return document


def test_a_recorded_jobspec_with_a_password_in_it_is_caught() -> None:
    view = "preview-nomad"
    document = recorded_jobspec(view, "org-1003-job")
    document["Job"]["TaskGroups"][0]["Tasks"][0]["Templates"][0]["EmbeddedTmpl"] = "DB_PASSWORD=hunter2hunter2\n"
    found = run_pack(view, resources=with_props(resource_rows(view), "org-1003-job", jobspec=json.dumps(document)))
    assert at_fault(found) == [("nomad-jobspec-no-credentials", urn_of(view, "org-1003-job"))]
    assert "Nomad job 'org-1003-job''s jobspec contains a PASSWORD= assignment" in found[0][2]
    assert "hunter2" not in found[0][2]


def test_a_recorded_jobspec_running_latest_is_caught() -> None:
    view = "preview-nomad"
    document = recorded_jobspec(view, "org-1003-job")
    document["Job"]["TaskGroups"][0]["Tasks"][0]["Config"]["image"] = "ghcr.io/smallbiznis/railzway:latest"
    found = run_pack(view, resources=with_props(resource_rows(view), "org-1003-job", jobspec=json.dumps(document)))
    assert at_fault(found) == [("nomad-job-pinned-image", urn_of(view, "org-1003-job"))]
    assert "Nomad job 'org-1003-job'" in found[0][2]


def test_a_recorded_job_not_declared_as_json_is_caught() -> None:
    view = "preview-nomad"
    found = run_pack(view, resources=with_props(resource_rows(view), "org-1003-job", json=False))
    assert at_fault(found) == [("nomad-jobspec-no-credentials", urn_of(view, "org-1003-job"))]
    assert "Nomad job 'org-1003-job' sets json=False" in found[0][2]


# --- stack-view mutations ------------------------------------------------------------------------


@pytest.mark.parametrize("view", VIEWS)
def test_a_recorded_revoke_given_privileges_is_caught_by_every_stack_policy(view: str) -> None:
    found = run_pack(view, stack=with_props(stack_rows(view), "org-1001-revoke-public", privileges=["CONNECT"]))
    assert sorted(at_fault(found)) == sorted(
        [
            ("tenant-database-public-revoked", urn_of(view, "org-1001-database")),
            ("tenant-parts-unique-and-complete", urn_of(view, "org-1001")),
            ("no-cross-tenant-grants", urn_of(view, "org-1001-revoke-public")),
        ]
    )
    messages = {policy: message for policy, _, message in found}
    assert "'org-1001-revoke-public' grants PUBLIC ['CONNECT']" in messages["no-cross-tenant-grants"]
    assert "Database 'org-1001-database' (railzway_org_1001)" in messages["tenant-database-public-revoked"]
    assert (
        "Tenant 1001 ('org-1001') is missing the grant revoking PUBLIC" in messages["tenant-parts-unique-and-complete"]
    )


@pytest.mark.parametrize("view", VIEWS)
def test_a_recorded_stack_without_a_revoke_is_caught(view: str) -> None:
    found = run_pack(view, stack=without(stack_rows(view), "org-2002-revoke-public"))
    assert at_fault(found) == [
        ("tenant-database-public-revoked", urn_of(view, "org-2002-database")),
        ("tenant-parts-unique-and-complete", urn_of(view, "org-2002")),
    ]


@pytest.mark.parametrize("view", VIEWS)
def test_a_grant_of_one_tenants_role_on_anothers_recorded_database_is_caught(view: str) -> None:
    stack = stack_rows(view)
    database = find(stack, "org-1001-database")
    grant = row(
        GRANT_TYPE,
        "sneaky-grant",
        {"database": "railzway_org_1001", "role": "railzway_user_1002", "objectType": "database"}
        | {"privileges": ["CONNECT"], "id": "railzway_user_1002_railzway_org_1001_database"},
        provider=database["provider"],
        dependencies=[database["urn"]],
    )
    found = run_pack(view, stack=added(stack, grant))
    assert at_fault(found) == [("no-cross-tenant-grants", grant["urn"])]
    assert "'sneaky-grant' grants tenant 1002's role railzway_user_1002 privileges on tenant 1001's" in found[0][2]


@pytest.mark.parametrize("view", VIEWS)
def test_a_recorded_role_made_member_of_another_tenants_role_is_caught(view: str) -> None:
    found = run_pack(view, stack=with_props(stack_rows(view), "org-1001-role", roles=["railzway_user_1002"]))
    assert at_fault(found) == [("no-cross-tenant-grants", urn_of(view, "org-1001-role"))]
    assert "'org-1001-role' makes tenant 1001's role railzway_user_1001 a member of tenant 1002's" in found[0][2]


@pytest.mark.parametrize("view", VIEWS)
def test_a_second_resource_with_a_recorded_tenants_role_name_is_caught(view: str) -> None:
    stack = stack_rows(view)
    stray = row(ROLE_TYPE, "stray-role", find(stack, "org-1001-role")["props"])
    found = run_pack(view, stack=added(stack, stray))
    assert at_fault(found) == [("tenant-parts-unique-and-complete", stray["urn"])]
    assert "role 'railzway_user_1001' is declared by both 'org-1001-role' and 'stray-role'" in found[0][2]


def test_a_recorded_running_tenant_without_its_job_is_caught(stack_configuration: bool) -> None:
    view = "preview-nomad"
    if stack_configuration:
        pulumi.runtime.set_config("railzway:regions", json.dumps(stack_config(view)["regions"]))
    found = run_pack(view, stack=without(stack_rows(view), "org-1002-job"))
    assert at_fault(found) == [("tenant-parts-unique-and-complete", urn_of(view, "org-1002"))]
    assert "Tenant 1002 ('org-1002') is missing Nomad job railzway-org-1002" in found[0][2]


@pytest.mark.parametrize("view", VIEWS)
def test_a_superuser_tenant_role_added_to_both_recorded_views_is_caught_by_both_kinds_of_policy(view: str) -> None:
    stack = stack_rows(view)
    role = find(stack, "org-1001-role")
    stray = row(ROLE_TYPE, "stray-role", {**role["props"], "superuser": True}, provider=role["provider"])
    both = added(stack, stray)
    found = run_pack(view, resources=added(resource_rows(view), called_as(stray, both)), stack=both)
    assert at_fault(found) == [
        ("tenant-role-no-privileges", stray["urn"]),
        ("tenant-parts-unique-and-complete", stray["urn"]),
    ]


@pytest.mark.parametrize("view", VIEWS)
def test_the_replayed_view_differs_from_the_recording_only_by_what_the_program_declares_since(view: str) -> None:
    recorded = {r["urn"]: r for r in recorded_stack_rows(view)}
    replayed = {r["urn"]: r for r in stack_rows(view)}
    added = sorted(r["name"] for urn, r in replayed.items() if urn not in recorded)
    assert added == [
        f"region-{region}{suffix}"
        for region in ("eu-west", "us-east")
        for suffix in ("", "-postgres-revoke-public", "-template1-revoke-public")
    ]
    changed = {
        r["name"]: {k: v for k, v in r["props"].items() if recorded[urn]["props"].get(k) != v}
        for urn, r in replayed.items()
        if urn in recorded and r["props"] != recorded[urn]["props"]
    }
    # The two terminated tenants' roles, and nothing else.
    assert changed == dict.fromkeys(("org-1005-role", "org-2003-role"), TERMINATED_ROLE_PROPS)
