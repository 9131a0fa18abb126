"""The Automation API layer's pure parts: which stack holds a tenant, URNs, summaries, locks, the CLI check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fleet_fakes import SHIPPED_REGISTRY
from pulumi.automation import OpType

from railzway.engine.stacks import (
    TENANT_TYPE,
    AutomationStacks,
    Changes,
    PulumiUnavailable,
    StackRef,
    _diy_lock_holders,
    _file_backend_root,
    failure_reason,
    stack_for_tenant,
    tenant_urn,
)
from railzway.registry.loader import load_registry
from railzway.registry.model import Tenant


@pytest.fixture(scope="module")
def tenant_1003() -> Tenant:
    return load_registry(SHIPPED_REGISTRY).tenants[1003]


def test_railzway_stack_puts_every_tenant_in_that_one_stack_as_configured(tenant_1003: Tenant) -> None:
    assert stack_for_tenant(tenant_1003, {"RAILZWAY_STACK": "dev"}) == StackRef("dev", None)


def test_without_railzway_stack_a_tenant_lives_in_its_prod_shard_stack(tenant_1003: Tenant) -> None:
    assert stack_for_tenant(tenant_1003, {}) == StackRef("prod-eu-west-01", ("eu-west/1",))


def test_railzway_environment_names_the_environment(tenant_1003: Tenant) -> None:
    ref = stack_for_tenant(tenant_1003, {"RAILZWAY_ENVIRONMENT": "staging", "RAILZWAY_STACK": " "})
    assert ref == StackRef("staging-eu-west-01", ("eu-west/1",))


def test_an_environment_that_breaks_the_stack_scheme_is_refused(tenant_1003: Tenant) -> None:
    with pytest.raises(ValueError, match="RAILZWAY_ENVIRONMENT='prod-eu' is not an environment name"):
        stack_for_tenant(tenant_1003, {"RAILZWAY_ENVIRONMENT": "prod-eu"})


def test_a_tenants_component_urn_is_the_target_for_one_tenant() -> None:
    assert tenant_urn("prod-eu-west-01", 1003) == (
        "urn:pulumi:prod-eu-west-01::railzway::railzway:index:TenantInstance::org-1003"
    )


def test_changes_are_read_from_an_engine_summary_with_enum_or_string_keys() -> None:
    up = Changes.from_op_map({OpType.CREATE: 6, OpType.SAME: 40, OpType.REPLACE: 1, OpType.DELETE: 2})
    preview = Changes.from_op_map({"create": 6, "update": 3})
    assert up == Changes(creates=6, updates=0, deletes=2, replaces=1, sames=40)
    assert preview == Changes(creates=6, updates=3)
    assert up.changed == 9
    assert Changes.from_op_map(None) == Changes()


def test_a_failure_is_summed_up_by_the_engines_last_error_line() -> None:
    text = (
        "\n code: 255\n stdout: Updating (prod-eu-west-00)\n\n stderr: error: update failed\nerror: 1 resource failed\n"
    )
    assert failure_reason(RuntimeError(text)) == "error: 1 resource failed"
    assert failure_reason(RuntimeError("\n code: 255\n stdout: \n stderr: error: conflict\n")) == "error: conflict"
    assert failure_reason(ValueError("")) == "ValueError"
    assert len(failure_reason(RuntimeError("error: " + "x" * 1000))) == 300


def test_the_engine_refuses_cleanly_without_the_pulumi_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PulumiUnavailable, match=r"^the pulumi CLI is not on PATH"):
        AutomationStacks()


def test_a_diy_backend_lock_file_names_who_holds_the_stack(tmp_path: Path) -> None:
    lock_dir = tmp_path / ".pulumi" / "locks" / "organization" / "railzway" / "prod-eu-west-00"
    lock_dir.mkdir(parents=True)
    (lock_dir / "1f0c.json").write_text(
        json.dumps({"pid": 4242, "username": "ci", "hostname": "runner-7", "timestamp": "2026-11-25T10:00:00Z"})
    )
    assert _diy_lock_holders(tmp_path, "railzway", "prod-eu-west-00") == [
        "ci@runner-7 (pid 4242) since 2026-11-25T10:00:00Z"
    ]
    assert _diy_lock_holders(tmp_path, "railzway", "prod-eu-west-01") == []


def test_a_file_backend_url_points_at_its_directory() -> None:
    assert _file_backend_root("file:///var/lib/pulumi") == Path("/var/lib/pulumi")
    assert _file_backend_root("file://~/state") == Path.home() / "state"


def test_the_targeted_type_is_the_components_own_type_token() -> None:
    from components import RESOURCE_TYPE

    assert TENANT_TYPE == RESOURCE_TYPE
