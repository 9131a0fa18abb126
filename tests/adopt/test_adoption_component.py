"""`TenantInstance` takes an adoption exactly for tenants whose `password_rotation` is `adopted`."""

from __future__ import annotations

from collections.abc import Iterator

import pulumi
import pulumi_postgresql as postgresql
import pytest

from components import Adoption, TenantInstance, TenantInstanceArgs
from devkit.mockrun import EchoMocks
from railzway.config.stack_config import parse_stack_config
from railzway.registry.model import Tenant, Tier

TIER = Tier(cpu=500, memory_mb=512, connection_limit=7, storage_quota_mb=100)
ENDPOINTS = parse_stack_config({"regions": {"eu": {"postgres": {"host": "admin.pg"}}}}).regions["eu"]


@pytest.fixture(scope="module", autouse=True)
def mocks() -> Iterator[None]:
    pulumi.runtime.reset_options(project="railzway", stack="unit")
    pulumi.runtime.set_mocks(EchoMocks(), project="railzway", stack="unit", preview=False)
    yield


def args(rotation: str, adoption: Adoption | None) -> TenantInstanceArgs:
    tenant = Tenant.model_validate(
        {"org_id": 42, "tier": "t", "version": "2.0.1", "region": "eu", "password_rotation": rotation}
    )
    return TenantInstanceArgs(
        tenant=tenant,
        tier=TIER,
        endpoints=ENDPOINTS,
        image_repository="registry.example/railzway",
        postgres_provider=postgresql.Provider("pg-unit"),
        adoption=adoption,
    )


def test_an_adopted_tenant_without_its_password_is_refused() -> None:
    with pytest.raises(ValueError, match="pass an adoption exactly when the tenant's password_rotation is 'adopted'"):
        TenantInstance("org-42", args("adopted", None))


def test_an_adoption_for_a_tenant_of_ours_is_refused() -> None:
    adoption = Adoption(password=pulumi.Output.secret("x" * 32), import_existing=True)
    with pytest.raises(ValueError, match="pass an adoption exactly when"):
        TenantInstance("org-43", args("2026-01-01", adoption))
