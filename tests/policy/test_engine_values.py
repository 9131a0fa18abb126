"""Each engine value that changes on its way to the pack is read through one function, tested here on the
values the real engine recorded (`../shared/engine/`): the grant's privileges (null at stack level, [] at
resource level), numbers (floats), values unknown during a create preview, and a component's facts (its
registered outputs at stack level, its inputs at resource level)."""

from __future__ import annotations

import pytest
from pulumi_policy import PolicyResource
from recorded import VIEWS, find, needs_transcripts, resource_rows, stack_args, stack_rows

from railzway.guardrails.engine_values import UNKNOWN, grant_privileges, value_of
from railzway.guardrails.stack_policies import _component_org_id, _component_runs_on_nomad

pytestmark = [needs_transcripts]


def stack_resource(view: str, name: str) -> PolicyResource:
    return next(r for r in stack_args(stack_rows(view)).resources if r.name == name)


def called_with(view: str, name: str) -> PolicyResource:
    """The resource as a resource policy received it (its inputs), in the stack view's type."""
    # A resource-view row holds its provider's properties, not its URN: leave the provider out.
    rows = [{**r, "provider": None} for r in resource_rows(view) if r["name"] == name]
    return stack_args(rows).resources[0]


@pytest.mark.parametrize("view", VIEWS)
def test_the_stack_views_null_privileges_read_as_the_empty_set(view: str) -> None:
    assert grant_privileges(stack_resource(view, "org-1001-revoke-public").props) == []


@pytest.mark.parametrize("view", VIEWS)
def test_the_resource_views_empty_privileges_read_as_the_empty_set(view: str) -> None:
    assert grant_privileges(called_with(view, "org-1001-revoke-public").props) == []


def test_privileges_that_are_set_read_as_they_are() -> None:
    props = (
        stack_args(
            [{**find(stack_rows("up"), "org-1001-revoke-public"), "props": {"privileges": ["CONNECT", "TEMPORARY"]}}]
        )
        .resources[0]
        .props
    )
    assert grant_privileges(props) == ["CONNECT", "TEMPORARY"]


def test_privileges_unknown_during_a_preview_read_as_unknown() -> None:
    props = (
        stack_args(
            [{**find(stack_rows("preview-nomad"), "org-1001-revoke-public"), "props": {"privileges": "<unknown>"}}]
        )
        .resources[0]
        .props
    )
    assert grant_privileges(props) is UNKNOWN


@pytest.mark.parametrize("view", VIEWS)
def test_a_number_the_engine_sends_as_a_float_reads_as_an_integer(view: str) -> None:
    assert find(stack_rows(view), "org-1001-role")["props"]["connectionLimit"] == 40.0
    limit = value_of(stack_resource(view, "org-1001-role").props, "connectionLimit")
    assert (limit, type(limit)) == (40, int)


def test_a_password_unknown_during_a_create_preview_reads_as_unknown() -> None:
    assert value_of(stack_resource("preview-nomad", "org-1001-role").props, "password") is UNKNOWN
    assert value_of(called_with("preview-nomad", "org-1001-role").props, "password") is UNKNOWN


def test_a_known_value_beside_unknown_ones_reads_as_itself() -> None:
    assert value_of(stack_resource("preview-nomad", "org-1001-role").props, "name") == "railzway_user_1001"


@pytest.mark.parametrize("view", VIEWS)
def test_a_components_org_id_reads_from_its_outputs_and_from_its_inputs(view: str) -> None:
    # Stack view: the registered outputs (`org_id`: 1001.0); resource view: the inputs (`orgId`: 1001.0).
    assert _component_org_id(stack_resource(view, "org-1001")) == 1001
    assert _component_org_id(called_with(view, "org-1001")) == 1001


@pytest.mark.parametrize(
    ("view", "name", "runs_on_nomad"),
    [
        ("preview-nomad", "org-1001", True),  # nomad_job_id in its outputs
        ("preview-nomad", "org-1004", True),  # stopped: the job stays, with Stop
        ("preview-nomad", "org-1005", False),  # terminated
        ("preview-nomad", "org-2001", False),  # us-east has no Nomad
        ("up", "org-1001", False),  # eu-west without Nomad: no nomad_job_id output at all
    ],
)
def test_whether_a_component_runs_on_nomad_reads_from_its_outputs(view: str, name: str, runs_on_nomad: bool) -> None:
    assert _component_runs_on_nomad(stack_resource(view, name)) is runs_on_nomad


@pytest.mark.parametrize(("view", "runs_on_nomad"), [("preview-nomad", True), ("up", False)])
def test_whether_a_component_runs_on_nomad_reads_from_its_inputs(view: str, runs_on_nomad: bool) -> None:
    assert _component_runs_on_nomad(called_with(view, "org-1001")) is runs_on_nomad
