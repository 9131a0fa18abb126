"""`railzway.tenant.spec`, what a tenant is: the role, database, revoke, variable and job each status gets,
and the output contract the component registers and the Cloud DB sync validates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.tenant_instance import TenantInstance
from devkit.mockrun import run_program
from railzway.clouddb.outputs import TenantOutput
from railzway.registry.model import STATUSES
from railzway.tenant import spec

PROJECT = Path(__file__).resolve().parents[2]


def test_a_running_or_stopped_tenants_role_logs_in_with_its_tiers_limit() -> None:
    for status in ("running", "stopped"):
        assert spec.role(1001, status, 40) == spec.RoleSpec("railzway_user_1001", True, "infinity", 40)


def test_a_terminated_tenants_role_cannot_log_in_and_its_password_has_expired_for_ever() -> None:
    assert spec.role(1005, "terminated", 40) == spec.RoleSpec("railzway_user_1005", False, "-infinity", 0)


def test_every_privilege_flag_of_a_role_is_off() -> None:
    assert spec.RoleSpec.privilege_flags() == {
        "superuser": False,
        "create_database": False,
        "create_role": False,
        "replication": False,
        "bypass_row_level_security": False,
    }


@pytest.mark.parametrize(("status", "limit"), [("running", 40), ("stopped", 40), ("terminated", 0)])
def test_the_database_is_its_roles_utf8_from_template0_and_always_accepts_connections(status: str, limit: int) -> None:
    # A terminated tenant's database keeps ALLOW_CONNECTIONS true (the admin and the provider need it) and
    # refuses the tenant through its role and a limit of 0.
    assert spec.database(1001, status, 40) == spec.DatabaseSpec(
        "railzway_org_1001", "railzway_user_1001", "UTF8", "template0", True, limit
    )


def test_the_revoke_takes_every_privilege_from_public_on_the_tenants_database() -> None:
    assert spec.public_revoke(1001) == spec.PublicRevokeSpec("railzway_org_1001", "public", "database", ())


@pytest.mark.parametrize(
    ("status", "has_nomad", "job"),
    [
        ("running", True, spec.JobSpec("railzway-org-1001", stopped=False)),
        ("stopped", True, spec.JobSpec("railzway-org-1001", stopped=True)),
        ("terminated", True, None),
        ("running", False, None),
    ],
)
def test_a_job_and_its_variable_exist_in_a_nomad_region_unless_terminated(
    status: str, has_nomad: bool, job: spec.JobSpec | None
) -> None:
    tenant = spec.tenant(1001, status, 40, has_nomad)
    assert tenant.job == job
    expected_variable = (
        spec.VariableSpec(
            "nomad/jobs/railzway-org-1001", ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DATABASE_URL")
        )
        if job
        else None
    )
    assert tenant.variable == expected_variable


def test_the_possible_limits_are_each_tiers_and_zero_once_terminated() -> None:
    assert spec.possible_connection_limits("role", {10, 40}) == {0, 10, 40}
    assert spec.possible_connection_limits("database", {10, 40}) == {0, 10, 40}
    assert set(STATUSES) == {spec.RUNNING, spec.STOPPED, spec.TERMINATED}


def test_the_output_contract_keys_and_its_secrets() -> None:
    assert spec.OUTPUT_KEYS == (
        "org_id",
        "db_host",
        "db_port",
        "db_name",
        "db_user",
        "db_password",
        "database_url",
        "nomad_job_id",
        "status",
        "tier",
        "version",
        "region",
    )
    assert spec.SECRET_OUTPUT_KEYS == {"db_password", "database_url"}


def test_the_components_attributes_and_the_cloud_db_model_are_the_contract() -> None:
    # The class's own annotations (its bases' are Pulumi's): the attributes a reader of an instance sees.
    assert tuple(TenantInstance.__annotations__) == spec.OUTPUT_KEYS
    assert tuple(TenantOutput.model_fields) == spec.OUTPUT_KEYS
    hidden = {key for key, field in TenantOutput.model_fields.items() if not field.repr}
    assert hidden == spec.SECRET_OUTPUT_KEYS


def test_a_secret_added_to_the_contract_is_registered_as_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec, "SECRET_OUTPUT_KEYS", spec.SECRET_OUTPUT_KEYS | {"db_host"})
    document = yaml.safe_load((PROJECT / "Pulumi.dev.yaml").read_text())
    run = run_program(PROJECT / "tenants", {key.split(":", 1)[1]: v for key, v in document["config"].items()})
    secret = {key for key in spec.OUTPUT_KEYS if run.is_secret_output(f"tenants.1001.{key}")}
    assert secret == {"db_password", "database_url", "db_host"}


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        # Pure: no Pulumi, no database driver.
        ("railzway.tenant.spec", ("pulumi", "pulumi_policy", "psycopg")),
        # The Cloud DB package talks to its database, never to the engine's SDK.
        ("railzway.clouddb.outputs", ("pulumi", "pulumi_policy")),
    ],
)
def test_the_specification_and_the_cloud_db_output_model_import_no_pulumi(
    module: str, forbidden: tuple[str, ...]
) -> None:
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r}))"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
