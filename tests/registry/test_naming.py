"""Names derived from an org id: the seed's exact names, and their inverses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from railzway.registry import naming


def test_names_match_the_go_control_plane() -> None:
    assert naming.role_name(12345) == "railzway_user_12345"
    assert naming.database_name(12345) == "railzway_org_12345"
    assert naming.job_id(12345) == "railzway-org-12345"


def test_variable_path_is_the_one_a_job_reads_by_default() -> None:
    assert naming.variable_path(7) == "nomad/jobs/railzway-org-7"


@pytest.mark.parametrize("bad", [0, -1, 2**63, True, "12", 1.0])
def test_names_refuse_an_org_id_that_is_not_a_positive_64_bit_integer(bad: object) -> None:
    with pytest.raises(ValueError, match="org id must be an integer"):
        naming.role_name(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=1, max_value=naming.MAX_ORG_ID))
def test_names_round_trip_to_their_org_id(org_id: int) -> None:
    assert naming.org_id_of_role(naming.role_name(org_id)) == org_id
    assert naming.org_id_of_database(naming.database_name(org_id)) == org_id
    assert naming.org_id_of_job(naming.job_id(org_id)) == org_id


@pytest.mark.parametrize(
    "name", ["railzway_user_", "railzway_user_0", "railzway_user_012", "railzway_user_1x", "postgres", "railzway_org_1"]
)
def test_names_that_are_not_tenant_roles_have_no_org_id(name: str) -> None:
    assert naming.org_id_of_role(name) is None


def test_an_identifier_past_the_64_bit_range_is_not_a_tenant() -> None:
    assert naming.org_id_of_database("railzway_org_9223372036854775808") is None


def test_stack_names_follow_env_region_shard() -> None:
    assert naming.stack_name("prod", "eu-west", 3) == "prod-eu-west-03"
    assert naming.parse_stack_name("prod-eu-west-03") == ("prod", "eu-west", 3)
    assert naming.parse_stack_name("dev") is None
