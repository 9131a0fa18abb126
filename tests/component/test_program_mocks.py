"""The program under Pulumi's mocks, over the shipped registry and the dev stack: every child, every value.

The shipped registry: 1001-1004 in eu-west (Nomad), 1004 stopped, 1005 terminated (eu-west), 2001-2003
in us-east (no Nomad in the dev stack), 2003 terminated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components import OUTPUT_KEYS, RESOURCE_TYPE
from devkit.mockrun import ProgramRun, RecordedResource
from railzway.registry import naming
from railzway.registry.loader import load_registry
from railzway.tenant import env as tenant_env
from railzway.tenant import jobspec, password_rules, spec

REGISTRY = load_registry(Path(__file__).resolve().parents[2] / "tenants")
ALL = sorted(REGISTRY.tenants)
WITH_JOB = [1001, 1002, 1003, 1004]
NO_JOB = [1005, 2001, 2002, 2003]

ROLE = "postgresql:index/role:Role"
DATABASE = "postgresql:index/database:Database"
GRANT = "postgresql:index/grant:Grant"
PASSWORD = "random:index/randomPassword:RandomPassword"
VARIABLE = "nomad:index/variable:Variable"
JOB = "nomad:index/job:Job"


def child(run: ProgramRun, org_id: int, role: str) -> RecordedResource:
    return run.get(f"{naming.resource_name(org_id)}-{role}")


def password_of(run: ProgramRun, org_id: int) -> str:
    value = run.outputs["tenants"][str(org_id)]["db_password"]
    assert isinstance(value, str)
    return value


def jobspec_of(run: ProgramRun, org_id: int) -> dict[str, Any]:
    document = json.loads(child(run, org_id, "job").inputs["jobspec"])
    assert isinstance(document, dict)
    return document


# --- the whole declaration --------------------------------------------------------------------------


def test_program_declares_exactly_these_resources(dev_run: ProgramRun) -> None:
    expected = {
        ("pulumi:providers:postgresql", "postgresql-eu-west"),
        ("pulumi:providers:postgresql", "postgresql-us-east"),
        ("pulumi:providers:nomad", "nomad-eu-west"),
        # eu-west has Nomad: its nightly backup job (us-east's backups run from the scheduled workflow).
        ("railzway:index:BackupSchedule", "backup-eu-west"),
        (JOB, "backup-eu-west-job"),
    }
    for region in ("eu-west", "us-east"):
        expected |= {
            ("railzway:index:RegionHardening", f"region-{region}"),
            (GRANT, f"region-{region}-postgres-revoke-public"),
            (GRANT, f"region-{region}-template1-revoke-public"),
        }
    for org_id in ALL:
        name = naming.resource_name(org_id)
        expected |= {
            (RESOURCE_TYPE, name),
            (PASSWORD, f"{name}-password"),
            (ROLE, f"{name}-role"),
            (DATABASE, f"{name}-database"),
            (GRANT, f"{name}-revoke-public"),
        }
        if org_id in WITH_JOB:
            expected |= {(VARIABLE, f"{name}-variable"), (JOB, f"{name}-job")}
    declared = [(r.type, r.name) for r in dev_run.resources]
    assert len(declared) == len(set(declared))
    assert set(declared) == expected


def test_every_child_is_parented_by_its_tenant_component(dev_run: ProgramRun) -> None:
    for component in dev_run.of_type(RESOURCE_TYPE):
        children = dev_run.children_of(component.urn)
        assert children, component.urn
        assert all(c.name.startswith(f"{component.name}-") for c in children), component.urn


def test_components_carry_their_props_for_the_policy_pack_and_their_cloud_db_row(dev_run: ProgramRun) -> None:
    # orgId, region, status, hasNomad for the policy pack; tier, version, dbHost, dbPort so that a change of
    # any value of the Cloud DB row is an update of the component, which fires its Cloud DB hooks.
    assert dev_run.get("org-1001").inputs == {
        "orgId": 1001,
        "region": "eu-west",
        "status": "running",
        "hasNomad": True,
        "tier": "growth",
        "version": "1.8.2",
        "dbHost": "127.0.0.1",
        "dbPort": 5432,
    }
    assert dev_run.get("org-2003").inputs == {
        "orgId": 2003,
        "region": "us-east",
        "status": "terminated",
        "hasNomad": False,
        "tier": "starter",
        "version": "1.6.0",
        "dbHost": "127.0.0.1",
        "dbPort": 5432,
    }


# --- password ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("org_id", "rotation"), [(1001, "2026-10-01"), (1002, "initial"), (2002, "2")])
def test_password_is_32_url_safe_characters_kept_by_rotation(dev_run: ProgramRun, org_id: int, rotation: str) -> None:
    password = child(dev_run, org_id, "password")
    assert password.inputs == {
        "length": password_rules.PASSWORD_LENGTH,
        "special": True,
        "overrideSpecial": password_rules.PASSWORD_SPECIALS,
        "keepers": {"rotation": rotation},
    }
    assert password.provider is None, password.urn  # the default random provider: it talks to nothing


# --- role -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("org_id", ALL)
def test_role_has_every_privilege_flag_false(dev_run: ProgramRun, org_id: int) -> None:
    role = child(dev_run, org_id, "role")
    for wire_name, _column in spec.ROLE_PRIVILEGE_FLAGS.values():
        assert role.inputs[wire_name] is False, (role.urn, wire_name)


@pytest.mark.parametrize("org_id", [1001, 1004, 2001])
def test_role_logs_in_with_the_generated_password_and_tier_limit(dev_run: ProgramRun, org_id: int) -> None:
    role = child(dev_run, org_id, "role")
    tier = REGISTRY.tier_of(REGISTRY.tenants[org_id])
    assert role.inputs["name"] == f"railzway_user_{org_id}"
    assert role.inputs["login"] is True
    assert role.inputs["connectionLimit"] == tier.connection_limit
    assert role.inputs["password"] == password_of(dev_run, org_id)
    assert password_rules.password_problem(role.inputs["password"]) is None
    assert role.is_secret("password"), role.urn
    assert child(dev_run, org_id, "password").urn in role.dependencies


# --- database ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("org_id", [1001, 1002, 2002])
def test_database_is_owned_by_the_role(dev_run: ProgramRun, org_id: int) -> None:
    database = child(dev_run, org_id, "database")
    role = child(dev_run, org_id, "role")
    tier = REGISTRY.tier_of(REGISTRY.tenants[org_id])
    assert database.inputs == {
        "name": f"railzway_org_{org_id}",
        "owner": f"railzway_user_{org_id}",
        "encoding": "UTF8",
        "template": "template0",
        "connectionLimit": tier.connection_limit,
        "allowConnections": True,
    }
    assert role.urn in database.dependencies, database.urn
    assert database.options["propertyDependencies"]["owner"] == [role.urn]


# --- grant ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("org_id", ALL)
def test_public_loses_every_database_privilege(dev_run: ProgramRun, org_id: int) -> None:
    grant = child(dev_run, org_id, "revoke-public")
    assert grant.inputs == {
        "database": f"railzway_org_{org_id}",
        "role": "public",
        "objectType": "database",
        "privileges": [],
    }
    assert child(dev_run, org_id, "database").urn in grant.dependencies, grant.urn


# --- variable ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("org_id", WITH_JOB)
def test_variable_holds_the_six_values_at_the_jobs_path(dev_run: ProgramRun, org_id: int) -> None:
    variable = child(dev_run, org_id, "variable")
    password = password_of(dev_run, org_id)
    assert variable.inputs["path"] == f"nomad/jobs/railzway-org-{org_id}"
    assert variable.inputs["namespace"] == "default"
    assert variable.inputs["items"] == {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": "5432",
        "DB_NAME": f"railzway_org_{org_id}",
        "DB_USER": f"railzway_user_{org_id}",
        "DB_PASSWORD": password,
        "DATABASE_URL": f"postgres://railzway_user_{org_id}:{password}@127.0.0.1:5432/railzway_org_{org_id}"
        "?sslmode=disable",
    }


@pytest.mark.parametrize("org_id", WITH_JOB)
def test_variable_items_are_secret(dev_run: ProgramRun, org_id: int) -> None:
    variable = child(dev_run, org_id, "variable")
    assert variable.is_secret("items"), variable.urn
    assert variable.is_secret("items.DB_PASSWORD") and variable.is_secret("items.DATABASE_URL")
    assert not variable.is_secret("path")


# --- job --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("org_id", WITH_JOB)
def test_job_is_the_rendered_json_jobspec(dev_run: ProgramRun, org_id: int) -> None:
    job = child(dev_run, org_id, "job")
    tenant = REGISTRY.tenants[org_id]
    tier = REGISTRY.tier_of(tenant)
    assert job.inputs["json"] is True
    assert job.inputs["jobspec"] == jobspec.render_jobspec(
        org_id=org_id,
        image_repository="ghcr.io/smallbiznis/railzway",
        version=tenant.version,
        cpu=tier.cpu,
        memory_mb=tier.memory_mb,
        stopped=tenant.status == "stopped",
        region="global",
        namespace="default",
        datacenters=["dc1"],
    )


def test_job_structure_for_a_growth_tenant(dev_run: ProgramRun) -> None:
    document = jobspec_of(dev_run, 1001)["Job"]
    task = document["TaskGroups"][0]["Tasks"][0]
    assert (document["ID"], document["Stop"], document["Datacenters"]) == ("railzway-org-1001", False, ["dc1"])
    assert task["Config"]["image"] == "ghcr.io/smallbiznis/railzway:1.8.2"
    assert task["Resources"] == {"CPU": 1000, "MemoryMB": 1024}
    assert task["Templates"][0]["Envvars"] is True
    assert 'nomadVar "nomad/jobs/railzway-org-1001"' in task["Templates"][0]["EmbeddedTmpl"]
    assert task["Services"][0]["Checks"][0]["Type"] == "http"
    assert document["TaskGroups"][0]["Update"]["AutoRevert"] is True


@pytest.mark.parametrize("org_id", WITH_JOB)
def test_job_contains_neither_the_password_nor_a_url(dev_run: ProgramRun, org_id: int) -> None:
    job = child(dev_run, org_id, "job")
    text = job.inputs["jobspec"]
    assert password_of(dev_run, org_id) not in text
    assert "postgres://" not in text and "postgresql://" not in text
    assert jobspec.credential_findings(text, known_secrets=[password_of(dev_run, org_id)]) == []
    assert not job.secret_inputs, job.urn


@pytest.mark.parametrize("org_id", WITH_JOB)
def test_job_passes_the_shape_and_image_checks(dev_run: ProgramRun, org_id: int) -> None:
    text = child(dev_run, org_id, "job").inputs["jobspec"]
    assert jobspec.api_shape_findings(text) == []
    assert jobspec.image_findings(text) == []


@pytest.mark.parametrize("org_id", WITH_JOB)
def test_job_depends_on_the_variable_and_the_database(dev_run: ProgramRun, org_id: int) -> None:
    job = child(dev_run, org_id, "job")
    assert child(dev_run, org_id, "variable").urn in job.dependencies, job.urn
    assert child(dev_run, org_id, "database").urn in job.dependencies, job.urn


# --- options and providers --------------------------------------------------------------------------


@pytest.mark.parametrize("org_id", ALL)
def test_role_and_database_are_retained_on_delete_and_nothing_else(dev_run: ProgramRun, org_id: int) -> None:
    prefix = f"{naming.resource_name(org_id)}-"
    retained = {r.name for r in dev_run.resources if r.name.startswith(prefix) and r.retain_on_delete}
    assert retained == {f"{prefix}role", f"{prefix}database"}


@pytest.mark.parametrize("org_id", ALL)
def test_postgres_children_use_their_regions_provider(dev_run: ProgramRun, org_id: int) -> None:
    provider = dev_run.get(f"postgresql-{REGISTRY.tenants[org_id].region}").urn
    for role in ("role", "database", "revoke-public"):
        assert child(dev_run, org_id, role).provider == provider, (org_id, role)


@pytest.mark.parametrize("org_id", WITH_JOB)
def test_nomad_children_use_the_regions_nomad_provider(dev_run: ProgramRun, org_id: int) -> None:
    provider = dev_run.get("nomad-eu-west").urn
    assert child(dev_run, org_id, "variable").provider == provider
    assert child(dev_run, org_id, "job").provider == provider


def test_postgres_provider_connects_as_configured_without_a_stored_password(dev_run: ProgramRun) -> None:
    provider = dev_run.get("postgresql-eu-west")
    assert {k: provider.inputs[k] for k in ("host", "port", "username", "sslmode")} == {
        "host": "127.0.0.1",
        "port": "5432",
        "username": "postgres",
        "sslmode": "disable",
    }
    assert "password" not in provider.inputs


def test_nomad_provider_targets_the_configured_agent(dev_run: ProgramRun) -> None:
    provider = dev_run.get("nomad-eu-west")
    assert (provider.inputs["address"], provider.inputs["region"]) == ("http://127.0.0.1:4646", "global")
    assert "secretId" not in provider.inputs


def test_no_protect_and_no_ignore_changes_anywhere(dev_run: ProgramRun) -> None:
    assert not any(r.protect or r.options["ignoreChanges"] for r in dev_run.resources)


# --- outputs ----------------------------------------------------------------------------------------


def test_tenants_output_has_every_tenant_with_exactly_the_contract_keys(dev_run: ProgramRun) -> None:
    tenants = dev_run.outputs["tenants"]
    assert sorted(tenants) == [str(org_id) for org_id in ALL]
    for org_id, entry in tenants.items():
        assert tuple(sorted(entry)) == tuple(sorted(OUTPUT_KEYS)), org_id


@pytest.mark.parametrize("org_id", ALL)
def test_tenants_output_values(dev_run: ProgramRun, org_id: int) -> None:
    tenant = REGISTRY.tenants[org_id]
    entry = dev_run.outputs["tenants"][str(org_id)]
    password = entry["db_password"]
    assert entry == {
        "org_id": org_id,
        "db_host": "127.0.0.1",
        "db_port": 5432,
        "db_name": f"railzway_org_{org_id}",
        "db_user": f"railzway_user_{org_id}",
        "db_password": password,
        "database_url": tenant_env.database_url(
            f"railzway_user_{org_id}", password, "127.0.0.1", 5432, f"railzway_org_{org_id}", "disable"
        ),
        "nomad_job_id": f"railzway-org-{org_id}" if org_id in WITH_JOB else None,
        "status": tenant.status,
        "tier": tenant.tier,
        "version": tenant.version,
        "region": tenant.region,
    }


@pytest.mark.parametrize("org_id", ALL)
def test_tenants_output_keeps_exactly_the_password_and_url_secret(dev_run: ProgramRun, org_id: int) -> None:
    secret = {key for key in OUTPUT_KEYS if dev_run.is_secret_output(f"tenants.{org_id}.{key}")}
    assert secret == {"db_password", "database_url"}


def test_component_registers_its_outputs(dev_run: ProgramRun) -> None:
    component = dev_run.get("org-1001")
    registered = dev_run.registered_outputs[component.urn]
    assert registered == dev_run.outputs["tenants"]["1001"]
    assert dev_run.secret_registered_outputs[component.urn] == {"db_password", "database_url"}


def test_no_warnings_or_errors_logged(dev_run: ProgramRun) -> None:
    assert [entry for entry in dev_run.logs if entry[0] in ("warning", "error")] == []
