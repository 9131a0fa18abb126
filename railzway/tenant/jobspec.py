"""A tenant's Nomad job as the JSON document Nomad's HTTP API registers, and the checks it must pass.

Pure functions, no Pulumi: the component renders the job from here, and the policy pack checks every
declared job with the `*_findings` functions below, so the rules are written once.

Why the JSON API shape and not HCL: the `nomad.Job` resource with `json=True` decodes the document into
`hashicorp/nomad/api.Job` (it accepts the job bare or wrapped as `{"Job": {...}}`, as `nomad job run
-output` prints it; we wrap). Go's JSON decoder silently drops keys that match no struct field, so a
misspelt or HCL-style key (`task_groups`, `memory`) becomes a job without that setting and no error. Every key this module writes is a field of the `api` structs (api/jobs.go: Job,
UpdateStrategy; api/tasks.go: TaskGroup, Task, Template; api/resources.go: Resources, NetworkResource,
Port; api/services.go: Service, ServiceCheck), and `api_shape_findings` refuses any other key.

Durations in the API are `time.Duration`, i.e. integer nanoseconds.

No credential ever appears here: the task renders its database settings from the Nomad variable at
`naming.variable_path(org_id)` (readable by this job's tasks only) into environment variables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from railzway.registry import naming
from railzway.registry.model import image_tag_problem

SECOND = 1_000_000_000
MINUTE = 60 * SECOND

GROUP_NAME = "railzway"
TASK_NAME = "railzway"
PORT_LABEL = "http"
# The port Railzway OSS listens on inside its container, and its liveness endpoint.
CONTAINER_PORT = 8080
HEALTH_PATH = "/health"
# `secrets/` is the task's private directory: the rendered file holds the password, so not `local/`.
ENV_FILE = "secrets/database.env"

# Every key the builder writes, per API struct. `Config` is the docker driver's own map (lower-case by
# design: the driver's HCL names), so it gets its own list.
_ALLOWED: dict[str, frozenset[str]] = {
    "Root": frozenset({"Job"}),
    "Job": frozenset({"ID", "Name", "Type", "Region", "Namespace", "Datacenters", "Stop", "TaskGroups"}),
    "TaskGroup": frozenset({"Name", "Count", "Networks", "Update", "Tasks"}),
    "NetworkResource": frozenset({"Mode", "DynamicPorts"}),
    "Port": frozenset({"Label", "To"}),
    "UpdateStrategy": frozenset(
        {"MaxParallel", "HealthCheck", "MinHealthyTime", "HealthyDeadline", "ProgressDeadline", "AutoRevert", "Canary"}
    ),
    "Task": frozenset({"Name", "Driver", "Config", "Resources", "Templates", "Services"}),
    "Config": frozenset({"image", "ports"}),
    "Resources": frozenset({"CPU", "MemoryMB"}),
    "Template": frozenset({"EmbeddedTmpl", "DestPath", "Envvars", "ChangeMode"}),
    "Service": frozenset({"Name", "Provider", "PortLabel", "Checks"}),
    "ServiceCheck": frozenset({"Name", "Type", "Path", "Interval", "Timeout"}),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "Root": ("Job",),
    "Job": ("ID", "Name", "Type", "TaskGroups"),
    "TaskGroup": ("Name", "Count", "Tasks"),
    "Task": ("Name", "Driver", "Config", "Resources"),
    "Config": ("image",),
    "Resources": ("CPU", "MemoryMB"),
    "Template": ("EmbeddedTmpl", "DestPath"),
    "Service": ("Name", "PortLabel"),
    "ServiceCheck": ("Type", "Interval", "Timeout"),
}
# Which struct each nested key holds: (struct name, is a list of them).
_CHILDREN: dict[str, dict[str, tuple[str, bool]]] = {
    "Root": {"Job": ("Job", False)},
    "Job": {"TaskGroups": ("TaskGroup", True)},
    "TaskGroup": {"Networks": ("NetworkResource", True), "Update": ("UpdateStrategy", False), "Tasks": ("Task", True)},
    "NetworkResource": {"DynamicPorts": ("Port", True)},
    "Task": {
        "Config": ("Config", False),
        "Resources": ("Resources", False),
        "Templates": ("Template", True),
        "Services": ("Service", True),
    },
    "Service": {"Checks": ("ServiceCheck", True)},
}
_ALL_API_KEYS = frozenset(k for name, keys in _ALLOWED.items() if name != "Config" for k in keys)

_DATABASE_URL_RE = re.compile(r"postgres(?:ql)?://", re.IGNORECASE)
_PASSWORD_ASSIGNMENT_RE = re.compile(r"PASSWORD=", re.IGNORECASE)


def env_template(org_id: int) -> str:
    """The consul-template text that turns the tenant's Nomad variable into `KEY=value` lines.

    It ranges over the variable's items rather than naming them, so the job spec carries neither a value
    nor a `PASSWORD=` line: whatever the variable holds (exactly `spec.VARIABLE_ITEMS`) becomes the
    task's environment. The values are URL- and shell-safe by construction (`rules.PASSWORD_ALPHABET`),
    so they need no quoting in the env file.
    """
    path = naming.variable_path(org_id)
    return (
        f'{{{{- with nomadVar "{path}" -}}}}\n'
        "{{- range .Tuples }}\n"
        "{{ .K }}={{ .V }}\n"
        "{{- end }}\n"
        "{{- end }}\n"
    )


def build_jobspec(
    *,
    org_id: int,
    image_repository: str,
    version: str,
    cpu: int,
    memory_mb: int,
    stopped: bool,
    region: str,
    namespace: str,
    datacenters: Sequence[str],
) -> dict[str, Any]:
    """The tenant's job, wrapped as `{"Job": {...}}` in Nomad's JSON API field names.

    `stopped` keeps the job registered but with `Stop: true` (Nomad stops its allocations and keeps the
    job's history); a terminated tenant has no job at all, so there is no flag for it.
    """
    problem = image_tag_problem(version)
    if problem:
        raise ValueError(f"version: {problem}")
    if not image_repository or ":" in image_repository.rsplit("/", 1)[-1] or "@" in image_repository:
        raise ValueError(f"image repository {image_repository!r} must be a repository without a tag or digest")
    if not datacenters:
        raise ValueError("datacenters must name at least one datacenter")
    job_id = naming.job_id(org_id)
    return {
        "Job": {
            "ID": job_id,
            "Name": job_id,
            "Type": "service",
            "Region": region,
            "Namespace": namespace,
            "Datacenters": list(datacenters),
            "Stop": stopped,
            "TaskGroups": [
                {
                    "Name": GROUP_NAME,
                    "Count": 1,
                    "Networks": [{"Mode": "host", "DynamicPorts": [{"Label": PORT_LABEL, "To": CONTAINER_PORT}]}],
                    # A new version rolls out only when its health check passes, and a version that never
                    # becomes healthy is rolled back to the last good one without an operator.
                    "Update": {
                        "MaxParallel": 1,
                        "HealthCheck": "checks",
                        "MinHealthyTime": 10 * SECOND,
                        "HealthyDeadline": 5 * MINUTE,
                        "ProgressDeadline": 10 * MINUTE,
                        "AutoRevert": True,
                        "Canary": 0,
                    },
                    "Tasks": [
                        {
                            "Name": TASK_NAME,
                            "Driver": "docker",
                            "Config": {"image": f"{image_repository}:{version}", "ports": [PORT_LABEL]},
                            "Resources": {"CPU": cpu, "MemoryMB": memory_mb},
                            "Templates": [
                                {
                                    "EmbeddedTmpl": env_template(org_id),
                                    "DestPath": ENV_FILE,
                                    "Envvars": True,
                                    # A rotated password restarts the task with the new environment.
                                    "ChangeMode": "restart",
                                }
                            ],
                            "Services": [
                                {
                                    "Name": job_id,
                                    # Nomad's own service catalogue: a region needs no Consul.
                                    "Provider": "nomad",
                                    "PortLabel": PORT_LABEL,
                                    "Checks": [
                                        {
                                            "Name": "http",
                                            "Type": "http",
                                            "Path": HEALTH_PATH,
                                            "Interval": 10 * SECOND,
                                            "Timeout": 2 * SECOND,
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    }


def render_jobspec(**kwargs: Any) -> str:
    """`build_jobspec(**kwargs)` as text with sorted keys, so equal jobs render byte-identical (no diff)."""
    return json.dumps(build_jobspec(**kwargs), sort_keys=True, indent=2)


def credential_findings(jobspec_text: str, known_secrets: Iterable[str] = ()) -> list[str]:
    """Why this job spec leaks a database credential; empty when it does not.

    Looks for a PostgreSQL URL, any `PASSWORD=` assignment (an env file or a command line), any object key
    containing PASSWORD that holds a value (an `Env` block), and, when given, the literal secrets. The
    messages never repeat the value they found.
    """
    findings: list[str] = []
    if _DATABASE_URL_RE.search(jobspec_text):
        findings.append(
            "contains a PostgreSQL connection URL (postgres:// or postgresql://); inject DATABASE_URL "
            "from the tenant's Nomad variable instead"
        )
    if _PASSWORD_ASSIGNMENT_RE.search(jobspec_text):
        findings.append("contains a PASSWORD= assignment; passwords reach the task only through its Nomad variable")
    try:
        document = json.loads(jobspec_text)
    except ValueError:
        document = None
    for path, key, value in _walk_items(document, ""):
        if "PASSWORD" in key.upper() and isinstance(value, str) and value:
            findings.append(f"{path} holds a password value; set it in the tenant's Nomad variable instead")
    for secret in known_secrets:
        if secret and secret in jobspec_text:
            findings.append("contains a tenant's database password verbatim")
            break
    return findings


def api_shape_findings(jobspec_text: str) -> list[str]:
    """Why this text is not a job in the JSON API shape this project writes; empty when it is.

    Nomad drops unknown keys silently, so anything outside the known field names (an HCL-style
    `task_groups`, a lower-case `group`, a typo) is reported here rather than discovered as a job that
    quietly lacks a setting.
    """
    try:
        document = json.loads(jobspec_text)
    except ValueError as e:
        return [f"not valid JSON: {e}"]
    findings: list[str] = []
    _check_struct(document, "Root", "", findings)
    return findings


def image_findings(jobspec_text: str) -> list[str]:
    """Why a task's image is not pinned to an exact version (no tag, or `latest`); empty when all are."""
    findings: list[str] = []
    for path, task in _tasks(jobspec_text):
        config = task.get("Config")
        image = config.get("image") if isinstance(config, Mapping) else None
        if not isinstance(image, str) or not image:
            findings.append(f"{path}.Config.image is missing")
            continue
        if "@" in image:
            continue  # pinned by digest
        name = image.rsplit("/", 1)[-1]
        if ":" not in name:
            findings.append(f"{path}.Config.image {image!r} has no tag: name the exact version to run")
            continue
        problem = image_tag_problem(name.rsplit(":", 1)[1])
        if problem:
            findings.append(f"{path}.Config.image {image!r}: {problem}")
    return findings


def resources_of(jobspec_text: str) -> list[tuple[int | None, int | None]]:
    """(CPU, MemoryMB) of every task, in order; None where a value is missing. Empty for invalid JSON."""
    result: list[tuple[int | None, int | None]] = []
    for _, task in _tasks(jobspec_text):
        resources = task.get("Resources")
        resources = resources if isinstance(resources, Mapping) else {}
        cpu, memory = resources.get("CPU"), resources.get("MemoryMB")
        result.append((cpu if _is_int(cpu) else None, memory if _is_int(memory) else None))
    return result


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _tasks(jobspec_text: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    try:
        document = json.loads(jobspec_text)
    except ValueError:
        return
    job = document.get("Job", document) if isinstance(document, Mapping) else None
    if not isinstance(job, Mapping):
        return
    groups = job.get("TaskGroups")
    for g, group in enumerate(groups if isinstance(groups, list) else []):
        tasks = group.get("Tasks") if isinstance(group, Mapping) else None
        for t, task in enumerate(tasks if isinstance(tasks, list) else []):
            if isinstance(task, Mapping):
                yield f"Job.TaskGroups[{g}].Tasks[{t}]", task


def _walk_items(value: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    if isinstance(value, Mapping):
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else str(key)
            yield child_path, str(key), child
            yield from _walk_items(child, child_path)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _walk_items(child, f"{path}[{i}]")


def _check_struct(value: Any, struct: str, path: str, findings: list[str]) -> None:
    where = path or "the document"
    if not isinstance(value, Mapping):
        findings.append(f"{where} must be a JSON object ({struct})")
        return
    allowed = _ALLOWED[struct]
    for key in value:
        if key not in allowed:
            findings.append(f"{_join(path, key)}: {_unknown_key_reason(key, allowed)}")
    for key in _REQUIRED.get(struct, ()):
        if key not in value:
            findings.append(f"{_join(path, key)} is required")
    for key, (child_struct, is_list) in _CHILDREN.get(struct, {}).items():
        if key not in value:
            continue
        child = value[key]
        if is_list:
            if not isinstance(child, list):
                findings.append(f"{_join(path, key)} must be a list")
                continue
            for i, item in enumerate(child):
                _check_struct(item, child_struct, f"{_join(path, key)}[{i}]", findings)
        else:
            _check_struct(child, child_struct, _join(path, key), findings)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _unknown_key_reason(key: str, allowed: frozenset[str]) -> str:
    folded = key.replace("_", "").lower()
    match = next((k for k in sorted(allowed | _ALL_API_KEYS) if k.lower() == folded), None)
    if match is not None and match != key:
        return f"HCL-style or misspelt key; the JSON API field is {match!r} (Nomad drops unknown keys silently)"
    if key in _HCL_BLOCK_NAMES:
        return f"HCL block name; the JSON API field is {_HCL_BLOCK_NAMES[key]!r} (Nomad drops unknown keys silently)"
    return f"not a field this project writes here (allowed: {', '.join(sorted(allowed))})"


# HCL block names whose JSON field has a different name altogether.
_HCL_BLOCK_NAMES = {
    "group": "TaskGroups",
    "task": "Tasks",
    "template": "Templates",
    "service": "Services",
    "check": "Checks",
    "network": "Networks",
    "port": "DynamicPorts",
    "data": "EmbeddedTmpl",
    "destination": "DestPath",
    "env": "Envvars",
    "memory": "MemoryMB",
    "update": "Update",
    "resources": "Resources",
}
