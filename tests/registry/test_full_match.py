"""Every pattern matches the whole value: no accepted name, version or output carries a control character.

`re.match(r"^...$")` also accepts a trailing newline (`$` matches before it): `"1.9.0\n"` was a version,
and wrote an image tag Nomad cannot pull. The properties below feed every check values that end in, or
contain, control characters and assert that whatever is accepted contains none.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from railzway.clouddb.outputs import OutputsError, parse_outputs
from railzway.config.stack_config import NomadEndpoint
from railzway.registry import naming
from railzway.registry.loader import load_registry
from railzway.registry.model import Region, Registry, Tenant, TierCatalogue, image_tag_problem
from railzway.service.actions import Action, DeployBody, Rejected, plan
from railzway.tenant import password_rules
from tests.clouddb.clouddb_data import outputs, tenant
from tests.conftest import SHIPPED_REGISTRY

_CONTROL_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}
_BREAKS = ["\n", "\r", "\r\n", "\x85", "\u2028", "\u2029", "\t", "\x00", "\x1b", "\u200b", "\ufeff", "\u202e"]


def has_control(text: str) -> bool:
    return any(unicodedata.category(c) in _CONTROL_CATEGORIES for c in text)


def near_valid(valid: list[str]) -> st.SearchStrategy[str]:
    """Valid values with a control character before, inside or after them, and arbitrary text."""
    breaks = st.sampled_from(_BREAKS)
    base = st.sampled_from(valid)
    return st.one_of(
        st.builds(lambda v, b: v + b, base, breaks),
        st.builds(lambda v, b: b + v, base, breaks),
        st.builds(lambda v, b, i: v[:i] + b + v[i:], base, breaks, st.integers(0, 8)),
        st.text(max_size=30),
        base,
    )


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(SHIPPED_REGISTRY)


_settings = settings(max_examples=300, deadline=None)


def test_a_version_with_a_trailing_newline_is_refused() -> None:
    assert image_tag_problem("1.9.0\n") is not None
    assert image_tag_problem("1.9.0") is None


def test_the_service_refuses_a_deploy_of_version_with_a_trailing_newline(registry: Registry) -> None:
    with pytest.raises(Rejected) as caught:
        plan(
            Action.deploy,
            3001,
            None,
            DeployBody(version="1.9.0\n", tier="starter", region="eu-west"),
            registry,
            today=dt.date(2026, 11, 30),
            request_id="r",
            new_shard=lambda region: 0,
        )
    assert (caught.value.status, caught.value.field) == (422, "version")


def test_names_with_a_trailing_newline_belong_to_no_tenant() -> None:
    assert naming.org_id_of_role("railzway_user_7\n") is None
    assert naming.org_id_of_database("railzway_org_7\n") is None
    assert naming.org_id_of_job("railzway-org-7\n") is None
    assert naming.parse_stack_name("prod-eu-west-01\n") is None
    assert naming.org_id_of_role("railzway_user_7") == 7


def test_a_nomad_address_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ValidationError, match="must be an http"):
        NomadEndpoint.model_validate({"address": "http://nomad:4646\n"})


@_settings
@given(near_valid(["1.8.2", "v2", "1.10", "release_2026-11"]))
def test_no_accepted_version_contains_a_control_character(value: str) -> None:
    if image_tag_problem(value) is None:
        assert not has_control(value)


@_settings
@given(
    field=st.sampled_from(["version", "password_rotation", "subscription_id", "tier", "region"]),
    value=near_valid(["1.8.2", "2026-10-01", "sub_F4gH5jK6lZ7x", "starter", "eu-west"]),
)
def test_no_accepted_tenant_field_contains_a_control_character(registry: Registry, field: str, value: str) -> None:
    data: dict[str, Any] = {"org_id": 4242, "tier": "starter", "version": "1.8.2", "region": "eu-west", field: value}
    try:
        Tenant.model_validate(data, context=registry.context())
    except ValidationError:
        return
    assert not has_control(value)


@_settings
@given(near_valid(["starter", "eu-west", "gold-2"]))
def test_no_accepted_tier_name_or_region_description_contains_a_control_character(value: str) -> None:
    tier = {"cpu": 100, "memory_mb": 128, "connection_limit": 5, "storage_quota_mb": 10}
    try:
        TierCatalogue.model_validate({"tiers": {value: tier}})
    except ValidationError:
        pass
    else:
        assert not has_control(value)
    try:
        Region.model_validate({"shards": 1, "description": value})
    except ValidationError:
        pass
    else:
        assert not has_control(value)


@_settings
@given(
    kind=st.sampled_from(["role", "database", "job", "variable", "resource", "stack"]),
    value=near_valid(
        ["railzway_user_7", "railzway_org_7", "railzway-org-7", "nomad/jobs/railzway-org-7", "org-7", "dev-eu-01"]
    ),
)
def test_no_name_that_parses_contains_a_control_character(kind: str, value: str) -> None:
    parse = {
        "role": naming.org_id_of_role,
        "database": naming.org_id_of_database,
        "job": naming.org_id_of_job,
        "variable": naming.org_id_of_variable,
        "resource": naming.org_id_of_resource,
        "stack": naming.parse_stack_name,
    }[kind]
    if parse(value) is not None:
        assert not has_control(value)


@_settings
@given(near_valid(["A" * 32, "abcdefghijklmnopqrstuvwxyz012345-_"]))
def test_no_acceptable_password_contains_a_control_character(value: str) -> None:
    if password_rules.password_problem(value) is None:
        assert not has_control(value)


@_settings
@given(
    field=st.sampled_from(["db_host", "db_password", "database_url", "tier", "region", "version", "key"]),
    value=near_valid(["tenants-db.internal", "p" * 32, "postgres://u:p@h:5432/d", "starter", "eu-west", "1"]),
)
def test_no_accepted_stack_output_contains_a_control_character(field: str, value: str) -> None:
    one = tenant(1)
    document = outputs(one)
    if field == "key":
        document["tenants"] = {value: one}
    else:
        one[field] = value
    try:
        parse_outputs(document)
    except OutputsError:
        return
    assert not has_control(value)
