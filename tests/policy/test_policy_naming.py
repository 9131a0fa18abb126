"""The two reverse parsers the pack added to `railzway.registry.naming`: a variable path and a component's name."""

from __future__ import annotations

import pytest

from railzway.registry import naming


@pytest.mark.parametrize("org_id", [1, 1001, naming.MAX_ORG_ID])
def test_variable_paths_and_component_names_parse_back_to_their_org(org_id: int) -> None:
    assert naming.org_id_of_variable(naming.variable_path(org_id)) == org_id
    assert naming.org_id_of_resource(naming.resource_name(org_id)) == org_id


@pytest.mark.parametrize(
    "path", ["nomad/jobs/railzway-org-0", "nomad/jobs/railzway-org-01", "nomad/jobs/other", "railzway-org-1", ""]
)
def test_other_variable_paths_belong_to_no_org(path: str) -> None:
    assert naming.org_id_of_variable(path) is None


@pytest.mark.parametrize("name", ["org-0", "org-1-role", "org-", "tenant-1001", f"org-{naming.MAX_ORG_ID + 1}"])
def test_other_resource_names_belong_to_no_org(name: str) -> None:
    assert naming.org_id_of_resource(name) is None
