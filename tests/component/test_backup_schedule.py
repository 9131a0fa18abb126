"""The nightly backup job: the pure jobspec, and the `BackupSchedule` component the program declares."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from components.backup_schedule import RESOURCE_TYPE as BACKUP_SCHEDULE_TYPE
from devkit.mockrun import ProgramRun
from railzway.lifecycle import schedule
from railzway.tenant import jobspec

JOB = "nomad:index/job:Job"
ADMIN = schedule.admin_conninfo("pg.eu-west.internal", 5432, "postgres", "require")


def _spec(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "region": "eu-west",
        "nomad_region": "eu",
        "namespace": "default",
        "datacenters": ["ams1"],
        "admin": ADMIN,
        **overrides,
    }
    return schedule.backup_jobspec(**args)


def test_the_job_is_a_periodic_batch_job_running_backup_all_of_its_region() -> None:
    job = _spec()["Job"]
    assert (job["ID"], job["Type"]) == ("railzway-backup-eu-west", "batch")
    assert job["Periodic"] == {
        "Enabled": True,
        "Spec": "0 3 * * *",
        "SpecType": "cron",
        "ProhibitOverlap": True,
        "TimeZone": "UTC",
    }
    [task] = job["TaskGroups"][0]["Tasks"]
    command = [task["Config"]["command"], *task["Config"]["args"]]
    assert command[:7] == ["python", "-m", "railzway", "backup", "--all", "--region", "eu-west"]
    assert command[command.index("--registry") + 1] == schedule.REGISTRY_IN_IMAGE


def test_the_job_connects_as_the_admin_without_a_password() -> None:
    [task] = _spec()["Job"]["TaskGroups"][0]["Tasks"]
    args = task["Config"]["args"]
    admin = conninfo_to_dict(args[args.index("--admin-url") + 1])
    assert admin == {
        "host": "pg.eu-west.internal",
        "port": "5432",
        "user": "postgres",
        "dbname": "postgres",
        "sslmode": "require",
    }


def test_secrets_come_from_the_jobs_own_nomad_variable() -> None:
    [task] = _spec()["Job"]["TaskGroups"][0]["Tasks"]
    [template] = task["Templates"]
    assert 'nomadVar "nomad/jobs/railzway-backup-eu-west"' in template["EmbeddedTmpl"]
    assert template["DestPath"].startswith("secrets/")
    assert template["Envvars"] is True


def test_the_rendered_job_passes_the_credential_and_shape_checks() -> None:
    assert schedule.backup_jobspec_findings(json.dumps(_spec(), sort_keys=True)) == []


def test_a_job_with_a_database_url_or_an_unknown_key_is_refused() -> None:
    document = _spec()
    document["Job"]["TaskGroups"][0]["Tasks"][0]["Config"]["args"].append("postgresql://postgres:pw@db/postgres")
    document["Job"]["periodic"] = {}
    findings = schedule.backup_jobspec_findings(json.dumps(document))
    assert any("PostgreSQL connection URL" in f for f in findings)
    assert "Job.periodic is not a field of Nomad's Job" in findings


def test_an_admin_connection_with_a_password_is_refused() -> None:
    with pytest.raises(ValueError, match="must not carry a password"):
        _spec(admin=ADMIN + " password=secret")


def test_each_region_job_belongs_to_the_stack_holding_its_shard_0() -> None:
    assert schedule.scheduled_regions(["eu-west", "us-east"], None) == ["eu-west", "us-east"]
    assert schedule.scheduled_regions(["eu-west", "us-east"], {("eu-west", 0), ("eu-west", 1)}) == ["eu-west"]
    assert schedule.scheduled_regions(["eu-west"], {("eu-west", 3)}) == []


def test_the_program_declares_the_job_for_the_region_with_nomad_on_its_provider(dev_run: ProgramRun) -> None:
    component = dev_run.get("backup-eu-west")
    job = dev_run.get("backup-eu-west-job")
    assert component.type == BACKUP_SCHEDULE_TYPE
    assert job.type == JOB
    assert job.parent == component.urn
    assert job.provider == dev_run.get("nomad-eu-west").urn
    assert job.inputs["json"] is True
    document = json.loads(job.inputs["jobspec"])
    assert document["Job"]["ID"] == "railzway-backup-eu-west"
    assert jobspec.credential_findings(job.inputs["jobspec"]) == []


def test_a_region_without_nomad_gets_no_job(dev_run: ProgramRun) -> None:
    names = {r.name for r in dev_run.resources}
    assert "backup-us-east" not in names


def test_a_shard_stack_without_shard_0_declares_no_job(
    run_changed: Callable[..., ProgramRun], dev_config: dict[str, Any]
) -> None:
    dev_config["shards"] = ["eu-west/1"]
    run = run_changed({}, dev_config)
    assert not [r for r in run.resources if r.name.startswith("backup-")]
