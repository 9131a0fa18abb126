"""The program refuses to run the provider with a region admin a tenant could steer (issue 13).

Under Pulumi's mocks, with the program's admin check either answering for a server or asking the real one.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from devkit.localpg import LocalPostgres
from devkit.mockrun import run_program
from railzway.admin import sessions as admin_session
from railzway.config.stack_config import PostgresEndpoint
from tests.conftest import SHIPPED_REGISTRY


def regions_on(server: LocalPostgres, admin: str) -> dict[str, Any]:
    postgres = {
        "host": server.host,
        "port": server.port,
        "username": admin,
        "sslmode": "disable",
        "password": server.password,
    }
    return {"regions": {"eu-west": {"postgres": postgres}, "us-east": {"postgres": postgres}}}


def test_the_program_refuses_every_region_whose_admin_is_steerable(
    postgres: LocalPostgres, unpinned_admin: str
) -> None:
    with pytest.raises(pulumi.RunError) as refused:
        run_program(
            SHIPPED_REGISTRY, regions_on(postgres, unpinned_admin), admin_check=admin_session.check_region_admin
        )
    message = str(refused.value)
    assert "railzway:regions.eu-west.postgres: refusing to run the postgresql provider" in message
    assert "railzway:regions.us-east.postgres: refusing to run the postgresql provider" in message
    assert f'ALTER ROLE "{unpinned_admin}" SET search_path = pg_catalog, pg_temp' in message
    assert postgres.password not in message


def test_the_program_checks_every_region_it_serves_before_declaring(
    postgres: LocalPostgres, unpinned_admin: str
) -> None:
    declared: list[str] = []

    def check(region: str, endpoint: PostgresEndpoint) -> str | None:
        declared.append(region)
        return admin_session.check_region_admin(region, endpoint)

    with pytest.raises(pulumi.RunError):
        run_program(SHIPPED_REGISTRY, regions_on(postgres, unpinned_admin), admin_check=check)
    assert declared == ["eu-west", "us-east"]


def test_the_program_runs_with_an_admin_that_carries_the_region_set_up(
    postgres: LocalPostgres, pinned_admin: str
) -> None:
    run = run_program(
        SHIPPED_REGISTRY, regions_on(postgres, pinned_admin), admin_check=admin_session.check_region_admin
    )
    assert len(run.of_type("postgresql:index/role:Role")) == 8


def test_only_the_refused_region_is_named(postgres: LocalPostgres, pinned_admin: str) -> None:
    def check(region: str, endpoint: PostgresEndpoint) -> str | None:
        return "us-east is steerable" if region == "us-east" else None

    with pytest.raises(pulumi.RunError, match=r"admins are not safe to provision with:\nus-east is steerable$"):
        run_program(SHIPPED_REGISTRY, regions_on(postgres, pinned_admin), admin_check=check)
