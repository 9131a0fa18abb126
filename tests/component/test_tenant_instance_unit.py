"""`TenantInstance` built directly under mocks (no program): its outputs and its argument checks."""

from __future__ import annotations

from collections.abc import Iterator

import pulumi
import pulumi_nomad as nomad
import pulumi_postgresql as postgresql
import pytest

from components import TenantInstance, TenantInstanceArgs
from devkit.mockrun import EchoMocks
from railzway.config.stack_config import RegionEndpoints, parse_stack_config
from railzway.registry.model import Tenant, Tier

TIER = Tier(cpu=500, memory_mb=512, connection_limit=7, storage_quota_mb=100)
ENDPOINTS = parse_stack_config(
    {
        "regions": {
            "eu": {
                "postgres": {"host": "admin.pg", "tenantHost": "tenant.pg", "port": 6432, "sslmode": "require"},
                "nomad": {"address": "http://n:4646"},
            }
        }
    }
).regions["eu"]
NO_NOMAD = RegionEndpoints(postgres=ENDPOINTS.postgres)


@pytest.fixture(scope="module", autouse=True)
def mocks() -> Iterator[None]:
    pulumi.runtime.reset_options(project="railzway", stack="unit")
    pulumi.runtime.set_mocks(EchoMocks(), project="railzway", stack="unit", preview=False)
    yield


def tenant(status: str = "running") -> Tenant:
    return Tenant.model_validate({"org_id": 42, "tier": "t", "version": "2.0.1", "status": status, "region": "eu"})


def instance(name: str, status: str = "running", endpoints: RegionEndpoints = ENDPOINTS) -> TenantInstance:
    return TenantInstance(
        name,
        TenantInstanceArgs(
            tenant=tenant(status),
            tier=TIER,
            endpoints=endpoints,
            image_repository="registry.example/railzway",
            postgres_provider=postgresql.Provider(f"{name}-pg", host="admin.pg"),
            nomad_provider=nomad.Provider(f"{name}-nomad", address="http://n:4646") if endpoints.nomad else None,
        ),
    )


@pulumi.runtime.test
def test_plain_outputs_are_known_values() -> None:
    org = instance("org-42")
    assert (org.org_id, org.db_host, org.db_port) == (42, "tenant.pg", 6432)
    assert (org.db_name, org.db_user, org.nomad_job_id) == ("railzway_org_42", "railzway_user_42", "railzway-org-42")
    assert (org.status, org.tier, org.version, org.region) == ("running", "t", "2.0.1", "eu")


@pulumi.runtime.test
def test_database_url_uses_the_tenant_host_and_regions_sslmode() -> pulumi.Output[None]:
    org = instance("org-42-url")

    def check(args: list[str]) -> None:
        urn, password, url = args
        assert url == f"postgres://railzway_user_42:{password}@tenant.pg:6432/railzway_org_42?sslmode=require", urn

    return pulumi.Output.all(org.urn, org.db_password, org.database_url).apply(check)


@pulumi.runtime.test
def test_password_and_url_outputs_are_secret() -> pulumi.Output[None]:
    org = instance("org-42-secret")

    async def secret_flags() -> list[bool]:
        return [await org.db_password.is_secret(), await org.database_url.is_secret()]

    def check(flags: list[bool]) -> None:
        assert flags == [True, True]

    flags: pulumi.Output[list[bool]] = pulumi.Output.from_input(secret_flags())
    return flags.apply(check)


@pulumi.runtime.test
def test_no_job_id_without_nomad_or_when_terminated() -> None:
    assert instance("org-42-dbonly", endpoints=NO_NOMAD).nomad_job_id is None
    assert instance("org-42-gone", status="terminated").nomad_job_id is None


def test_nomad_endpoint_without_provider_is_refused() -> None:
    args = TenantInstanceArgs(
        tenant=tenant(),
        tier=TIER,
        endpoints=ENDPOINTS,
        image_repository="r/x",
        postgres_provider=postgresql.Provider("refuse-pg", host="h"),
    )
    with pytest.raises(ValueError, match="nomad provider exactly when"):
        TenantInstance("org-42-refused", args)


def test_nomad_provider_without_endpoint_is_refused() -> None:
    args = TenantInstanceArgs(
        tenant=tenant(),
        tier=TIER,
        endpoints=NO_NOMAD,
        image_repository="r/x",
        postgres_provider=postgresql.Provider("refuse2-pg", host="h"),
        nomad_provider=nomad.Provider("refuse2-nomad", address="http://n:4646"),
    )
    with pytest.raises(ValueError, match="nomad provider exactly when"):
        TenantInstance("org-42-refused2", args)
