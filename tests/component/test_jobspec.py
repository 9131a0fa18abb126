"""The tenant's Nomad job document and the checks the policy pack reuses, without Pulumi."""

from __future__ import annotations

import json
from typing import Any

import pytest

from railzway.registry import naming
from railzway.tenant import jobspec

# Field names of the `hashicorp/nomad/api` Go structs the builder writes into (api/jobs.go, api/tasks.go,
# api/resources.go, api/services.go). Nomad's JSON decoder drops any key that is not one of these.
NOMAD_API_FIELDS: dict[str, set[str]] = {
    "Job": {
        "Region",
        "Namespace",
        "ID",
        "Name",
        "Type",
        "Priority",
        "AllAtOnce",
        "Datacenters",
        "NodePool",
        "Constraints",
        "Affinities",
        "TaskGroups",
        "Update",
        "Multiregion",
        "Spreads",
        "Periodic",
        "ParameterizedJob",
        "Reschedule",
        "Migrate",
        "Meta",
        "Stop",
    },
    "TaskGroup": {
        "Name",
        "Count",
        "Constraints",
        "Affinities",
        "Tasks",
        "Spreads",
        "Volumes",
        "RestartPolicy",
        "Disconnect",
        "ReschedulePolicy",
        "EphemeralDisk",
        "Update",
        "Migrate",
        "Networks",
        "Meta",
        "Services",
        "ShutdownDelay",
        "Scaling",
        "Consul",
    },
    "NetworkResource": {"Mode", "Device", "CIDR", "IP", "DNS", "ReservedPorts", "DynamicPorts", "Hostname"},
    "Port": {"Label", "Value", "To", "HostNetwork"},
    "UpdateStrategy": {
        "Stagger",
        "MaxParallel",
        "HealthCheck",
        "MinHealthyTime",
        "HealthyDeadline",
        "ProgressDeadline",
        "Canary",
        "AutoRevert",
        "AutoPromote",
    },
    "Task": {
        "Name",
        "Driver",
        "User",
        "Lifecycle",
        "Config",
        "Constraints",
        "Affinities",
        "Env",
        "Services",
        "Resources",
        "RestartPolicy",
        "Meta",
        "KillTimeout",
        "LogConfig",
        "Artifacts",
        "Vault",
        "Consul",
        "Templates",
        "DispatchPayload",
        "VolumeMounts",
        "Leader",
        "ShutdownDelay",
        "KillSignal",
        "Kind",
    },
    "Resources": {"CPU", "Cores", "MemoryMB", "MemoryMaxMB", "DiskMB", "Networks", "Devices"},
    "Template": {
        "SourcePath",
        "DestPath",
        "EmbeddedTmpl",
        "ChangeMode",
        "ChangeScript",
        "ChangeSignal",
        "Splay",
        "Perms",
        "Uid",
        "Gid",
        "LeftDelim",
        "RightDelim",
        "Envvars",
        "VaultGrace",
        "Wait",
        "ErrMissingKey",
    },
    "Service": {
        "Name",
        "Tags",
        "CanaryTags",
        "EnableTagOverride",
        "PortLabel",
        "AddressMode",
        "Address",
        "Checks",
        "CheckRestart",
        "Connect",
        "Meta",
        "CanaryMeta",
        "TaggedAddresses",
        "TaskName",
        "OnUpdate",
        "Identity",
        "Weights",
        "Provider",
        "Cluster",
    },
    "ServiceCheck": {
        "Name",
        "Type",
        "Command",
        "Args",
        "Path",
        "Protocol",
        "PortLabel",
        "Expose",
        "AddressMode",
        "Interval",
        "Timeout",
        "InitialStatus",
        "Header",
        "Method",
        "CheckRestart",
        "TaskName",
        "SuccessBeforePassing",
        "FailuresBeforeCritical",
        "OnUpdate",
    },
}

BASE: dict[str, Any] = {
    "org_id": 1001,
    "image_repository": "ghcr.io/smallbiznis/railzway",
    "version": "1.8.2",
    "cpu": 1000,
    "memory_mb": 1024,
    "stopped": False,
    "region": "global",
    "namespace": "default",
    "datacenters": ["dc1"],
}


def job(**overrides: Any) -> dict[str, Any]:
    return jobspec.build_jobspec(**{**BASE, **overrides})["Job"]


def task_of(document: dict[str, Any]) -> dict[str, Any]:
    return document["TaskGroups"][0]["Tasks"][0]


def text(document: Any) -> str:
    return json.dumps(document)


# --- build_jobspec --------------------------------------------------------------------------------


def test_job_is_wrapped_in_job_key_as_the_json_api_expects() -> None:
    assert list(jobspec.build_jobspec(**BASE)) == ["Job"]


def test_job_id_and_name_come_from_naming() -> None:
    document = job()
    assert (document["ID"], document["Name"]) == ("railzway-org-1001", "railzway-org-1001")
    assert document["Type"] == "service"


def test_job_placement_comes_from_the_region_endpoint() -> None:
    document = job(region="eu", namespace="tenants", datacenters=("fra1", "fra2"))
    assert (document["Region"], document["Namespace"], document["Datacenters"]) == ("eu", "tenants", ["fra1", "fra2"])


def test_task_runs_the_registry_version_of_the_image_with_docker() -> None:
    task = task_of(job(version="1.7.9"))
    assert task["Driver"] == "docker"
    assert task["Config"] == {"image": "ghcr.io/smallbiznis/railzway:1.7.9", "ports": ["http"]}


def test_task_resources_are_the_tiers() -> None:
    assert task_of(job(cpu=250, memory_mb=256))["Resources"] == {"CPU": 250, "MemoryMB": 256}


def test_task_reads_its_environment_from_the_tenants_nomad_variable() -> None:
    (template,) = task_of(job())["Templates"]
    assert template["Envvars"] is True
    assert template["DestPath"].startswith("secrets/")
    assert template["ChangeMode"] == "restart"
    assert f'nomadVar "{naming.variable_path(1001)}"' in template["EmbeddedTmpl"]
    assert "Env" not in task_of(job())


def test_env_template_names_no_key_and_no_value() -> None:
    rendered = jobspec.env_template(1001)
    assert "PASSWORD" not in rendered and "DATABASE_URL" not in rendered
    assert "{{ .K }}={{ .V }}" in rendered


def test_service_has_an_http_health_check_on_the_mapped_port() -> None:
    document = job()
    network = document["TaskGroups"][0]["Networks"][0]
    (port,) = network["DynamicPorts"]
    (service,) = task_of(document)["Services"]
    (check,) = service["Checks"]
    assert port == {"Label": "http", "To": jobspec.CONTAINER_PORT}
    assert service["PortLabel"] == port["Label"] and service["Provider"] == "nomad"
    assert (check["Type"], check["Path"]) == ("http", jobspec.HEALTH_PATH)
    assert (check["Interval"], check["Timeout"]) == (10 * 10**9, 2 * 10**9)


def test_update_rolls_one_at_a_time_on_health_checks_and_reverts() -> None:
    update = job()["TaskGroups"][0]["Update"]
    assert update["MaxParallel"] == 1
    assert update["HealthCheck"] == "checks"
    assert update["AutoRevert"] is True
    assert update["MinHealthyTime"] == 10 * 10**9 and update["HealthyDeadline"] == 300 * 10**9


def test_durations_are_integer_nanoseconds() -> None:
    update = job()["TaskGroups"][0]["Update"]
    assert all(type(update[k]) is int for k in ("MinHealthyTime", "HealthyDeadline", "ProgressDeadline"))


@pytest.mark.parametrize(("stopped", "expected"), [(False, False), (True, True)])
def test_stop_follows_the_stopped_status(stopped: bool, expected: bool) -> None:
    assert job(stopped=stopped)["Stop"] is expected


def test_a_stopped_job_keeps_its_task_group() -> None:
    assert job(stopped=True)["TaskGroups"][0]["Count"] == 1


def test_unpinned_version_is_refused() -> None:
    with pytest.raises(ValueError, match="not pinned"):
        jobspec.build_jobspec(**{**BASE, "version": "latest"})


def test_repository_with_a_tag_is_refused() -> None:
    with pytest.raises(ValueError, match="without a tag"):
        jobspec.build_jobspec(**{**BASE, "image_repository": "ghcr.io/smallbiznis/railzway:1.0"})


def test_repository_on_a_registry_port_is_accepted() -> None:
    task = task_of(job(image_repository="localhost:5000/railzway"))
    assert task["Config"]["image"] == "localhost:5000/railzway:1.8.2"


def test_no_datacenters_is_refused() -> None:
    with pytest.raises(ValueError, match="datacenter"):
        jobspec.build_jobspec(**{**BASE, "datacenters": []})


def test_every_key_written_is_a_field_of_the_nomad_api_struct() -> None:
    document = jobspec.build_jobspec(**BASE)["Job"]
    group = document["TaskGroups"][0]
    task = group["Tasks"][0]
    service = task["Services"][0]
    written = {
        "Job": document,
        "TaskGroup": group,
        "NetworkResource": group["Networks"][0],
        "Port": group["Networks"][0]["DynamicPorts"][0],
        "UpdateStrategy": group["Update"],
        "Task": task,
        "Resources": task["Resources"],
        "Template": task["Templates"][0],
        "Service": service,
        "ServiceCheck": service["Checks"][0],
    }
    for struct, value in written.items():
        assert set(value) <= NOMAD_API_FIELDS[struct], (struct, set(value) - NOMAD_API_FIELDS[struct])


# --- render_jobspec -------------------------------------------------------------------------------


def test_render_is_the_built_job_as_json() -> None:
    assert json.loads(jobspec.render_jobspec(**BASE)) == jobspec.build_jobspec(**BASE)


def test_render_sorts_keys_so_equal_jobs_render_identically() -> None:
    rendered = jobspec.render_jobspec(**BASE)
    assert rendered == json.dumps(json.loads(rendered), sort_keys=True, indent=2)
    assert rendered == jobspec.render_jobspec(**dict(reversed(list(BASE.items()))))


def test_rendered_job_passes_every_check() -> None:
    rendered = jobspec.render_jobspec(**BASE)
    assert jobspec.api_shape_findings(rendered) == []
    assert jobspec.credential_findings(rendered) == []
    assert jobspec.image_findings(rendered) == []
    assert jobspec.resources_of(rendered) == [(1000, 1024)]


# --- credential_findings --------------------------------------------------------------------------


def with_env(env: dict[str, str]) -> str:
    document = jobspec.build_jobspec(**BASE)
    task_of(document["Job"])["Env"] = env
    return text(document)


def test_password_in_env_block_is_found() -> None:
    findings = jobspec.credential_findings(with_env({"DB_PASSWORD": "s3cret-value"}))
    assert any("Env.DB_PASSWORD" in f for f in findings)
    assert not any("s3cret-value" in f for f in findings)


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "POSTGRES"])
def test_database_url_is_found(scheme: str) -> None:
    findings = jobspec.credential_findings(with_env({"DATABASE_URL": f"{scheme}://u:p@h:5432/d"}))
    assert any("connection URL" in f for f in findings)
    assert not any("u:p@h" in f for f in findings)


def test_password_assignment_in_a_template_is_found() -> None:
    document = jobspec.build_jobspec(**BASE)
    task_of(document["Job"])["Templates"][0]["EmbeddedTmpl"] = "DB_PASSWORD=hunter2hunter2\n"
    findings = jobspec.credential_findings(text(document))
    assert any("PASSWORD=" in f for f in findings)
    assert not any("hunter2" in f for f in findings)


def test_known_secret_verbatim_is_found_without_repeating_it() -> None:
    secret = "Zq8-xY_" * 5
    findings = jobspec.credential_findings(with_env({"GREETING": f"hello {secret}"}), known_secrets=[secret])
    assert findings == ["contains a tenant's database password verbatim"]


def test_empty_password_key_is_not_a_leak() -> None:
    assert jobspec.credential_findings(with_env({"DB_PASSWORD": ""})) == []


def test_credentials_are_found_in_text_that_is_not_json() -> None:
    assert jobspec.credential_findings('job "x" { env { DATABASE_URL = "postgresql://a:b@c/d" } }')


# --- api_shape_findings ---------------------------------------------------------------------------


def test_invalid_json_is_reported() -> None:
    (finding,) = jobspec.api_shape_findings("{not json")
    assert finding.startswith("not valid JSON")


def test_bare_job_without_wrapper_is_reported() -> None:
    findings = jobspec.api_shape_findings(text(job()))
    assert "Job is required" in findings
    assert any(f.startswith("ID:") for f in findings)


def test_hcl_style_task_groups_key_is_reported_with_the_api_name() -> None:
    document = jobspec.build_jobspec(**BASE)
    document["Job"]["task_groups"] = document["Job"].pop("TaskGroups")
    findings = jobspec.api_shape_findings(text(document))
    assert any(f.startswith("Job.task_groups:") and "'TaskGroups'" in f for f in findings)
    assert "Job.TaskGroups is required" in findings


def test_hcl_block_name_group_is_reported() -> None:
    document = jobspec.build_jobspec(**BASE)
    document["Job"]["group"] = []
    findings = jobspec.api_shape_findings(text(document))
    assert any(f.startswith("Job.group:") and "HCL block name" in f and "'TaskGroups'" in f for f in findings)


def test_lower_case_memory_in_resources_is_reported() -> None:
    document = jobspec.build_jobspec(**BASE)
    task_of(document["Job"])["Resources"] = {"CPU": 100, "memory": 256}
    findings = jobspec.api_shape_findings(text(document))
    assert "Job.TaskGroups[0].Tasks[0].Resources.MemoryMB is required" in findings
    assert any(f.startswith("Job.TaskGroups[0].Tasks[0].Resources.memory:") for f in findings)


def test_wrong_case_is_reported_even_though_go_would_accept_it() -> None:
    document = jobspec.build_jobspec(**BASE)
    document["Job"]["id"] = document["Job"].pop("ID")
    findings = jobspec.api_shape_findings(text(document))
    assert any(f.startswith("Job.id:") and "'ID'" in f for f in findings)


def test_unknown_docker_config_key_is_reported() -> None:
    document = jobspec.build_jobspec(**BASE)
    task_of(document["Job"])["Config"]["privileged"] = True
    findings = jobspec.api_shape_findings(text(document))
    assert any(f.startswith("Job.TaskGroups[0].Tasks[0].Config.privileged:") for f in findings)


def test_a_list_field_holding_an_object_is_reported() -> None:
    document = jobspec.build_jobspec(**BASE)
    document["Job"]["TaskGroups"] = document["Job"]["TaskGroups"][0]
    assert "Job.TaskGroups must be a list" in jobspec.api_shape_findings(text(document))


def test_env_block_is_outside_the_allowed_shape() -> None:
    findings = jobspec.api_shape_findings(with_env({"A": "b"}))
    assert any(f.startswith("Job.TaskGroups[0].Tasks[0].Env:") for f in findings)


# --- image_findings / resources_of ----------------------------------------------------------------


def with_image(image: str | None) -> str:
    document = jobspec.build_jobspec(**BASE)
    config = task_of(document["Job"])["Config"]
    if image is None:
        del config["image"]
    else:
        config["image"] = image
    return text(document)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("ghcr.io/smallbiznis/railzway:latest", "not pinned"),
        ("ghcr.io/smallbiznis/railzway:LATEST", "not pinned"),
        ("ghcr.io/smallbiznis/railzway", "has no tag"),
        ("localhost:5000/railzway", "has no tag"),
        (None, "missing"),
    ],
)
def test_unpinned_image_is_reported(image: str | None, expected: str) -> None:
    (finding,) = jobspec.image_findings(with_image(image))
    assert finding.startswith("Job.TaskGroups[0].Tasks[0].Config.image") and expected in finding


@pytest.mark.parametrize("image", ["localhost:5000/railzway:1.8.2", "ghcr.io/x/railzway@sha256:" + "a" * 64])
def test_pinned_image_passes(image: str) -> None:
    assert jobspec.image_findings(with_image(image)) == []


def test_resources_of_lists_every_task_and_marks_missing_values() -> None:
    document = jobspec.build_jobspec(**BASE)
    group = document["Job"]["TaskGroups"][0]
    group["Tasks"].append({"Name": "sidecar", "Resources": {"CPU": 50}})
    assert jobspec.resources_of(text(document)) == [(1000, 1024), (50, None)]


def test_resources_of_invalid_json_is_empty() -> None:
    assert jobspec.resources_of("nope") == []


def test_resources_of_ignores_booleans() -> None:
    document = jobspec.build_jobspec(**BASE)
    task_of(document["Job"])["Resources"] = {"CPU": True, "MemoryMB": 512}
    assert jobspec.resources_of(text(document)) == [(None, 512)]
