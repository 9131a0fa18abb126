"""The nightly backup of a region as a Nomad periodic batch job, in the JSON API shape of the tenant jobs.

Pure, no Pulumi: `components.BackupSchedule` declares the job from `backup_jobspec`, and the policy pack
checks it with `backup_jobspec_findings`. The job runs `railzway backup --all --region R` from the
operator image (the project with its registry at /srv/railzway/tenants, pinned by tag). No credential is
in the spec: the admin connection is a libpq keyword string without a password (a URL would trip the
credential check, rightly), and the task renders PGPASSWORD, RAILZWAY_CLOUD_DB_URL, RAILZWAY_BACKUP_URL
and the store's own credentials (AWS_* and the like) from the job's Nomad variable, which operators write
with `nomad var put nomad/jobs/railzway-backup-<region> ...`: only this job's tasks can read it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from railzway import __version__
from railzway.registry.shards import owns_region_singletons
from railzway.tenant import jobspec

JOB_PREFIX = "railzway-backup-"
DEFAULT_IMAGE = f"ghcr.io/smallbiznis/railzway-operator:{__version__}"
DEFAULT_CRON = "0 3 * * *"
DEFAULT_KEEP_DAILY = 7
DEFAULT_KEEP_WEEKLY = 4
REGISTRY_IN_IMAGE = "/srv/railzway/tenants"
ENV_FILE = "secrets/backup.env"
CPU_MHZ = 500
MEMORY_MB = 512
_REGION_RE = re.compile(r"^[a-z0-9-]+$")

# Every key the builder writes, per Nomad api struct (api/jobs.go Job and PeriodicConfig, api/tasks.go
# TaskGroup, Task, Template, RestartPolicy, api/resources.go Resources); Config is the docker driver's map.
_ALLOWED: dict[str, frozenset[str]] = {
    "Root": frozenset({"Job"}),
    "Job": frozenset({"ID", "Name", "Type", "Region", "Namespace", "Datacenters", "Periodic", "TaskGroups"}),
    "PeriodicConfig": frozenset({"Enabled", "Spec", "SpecType", "ProhibitOverlap", "TimeZone"}),
    "TaskGroup": frozenset({"Name", "Count", "RestartPolicy", "Tasks"}),
    "RestartPolicy": frozenset({"Attempts", "Interval", "Delay", "Mode"}),
    "Task": frozenset({"Name", "Driver", "Config", "Resources", "Templates"}),
    "Config": frozenset({"image", "command", "args"}),
    "Resources": frozenset({"CPU", "MemoryMB"}),
    "Template": frozenset({"EmbeddedTmpl", "DestPath", "Envvars", "ChangeMode"}),
}
_CHILDREN: dict[str, dict[str, tuple[str, bool]]] = {
    "Root": {"Job": ("Job", False)},
    "Job": {"Periodic": ("PeriodicConfig", False), "TaskGroups": ("TaskGroup", True)},
    "TaskGroup": {"RestartPolicy": ("RestartPolicy", False), "Tasks": ("Task", True)},
    "Task": {"Config": ("Config", False), "Resources": ("Resources", False), "Templates": ("Template", True)},
}


def job_id(region: str) -> str:
    if not _REGION_RE.match(region):
        raise ValueError(f"region {region!r}: lower-case letters, digits and dashes only")
    return f"{JOB_PREFIX}{region}"


def is_backup_job(job: object) -> bool:
    return isinstance(job, str) and job.startswith(JOB_PREFIX)


def variable_path(region: str) -> str:
    """The Nomad variable the job's task reads its secrets from (Nomad lets only this job read it)."""
    return f"nomad/jobs/{job_id(region)}"


def admin_conninfo(host: str, port: int, user: str, sslmode: str) -> str:
    """The admin connection as libpq keywords, never with a password (it comes from PGPASSWORD)."""
    # Written by hand, not with psycopg: the policy pack imports this module and runs without psycopg.
    pairs = {"host": host, "port": str(port), "user": user, "dbname": "postgres", "sslmode": sslmode}
    return " ".join(f"{key}={_quoted(value)}" for key, value in pairs.items())


def _quoted(value: str) -> str:
    """A libpq keyword value: quoted when it is empty or holds a space, quote or backslash."""
    if value and not any(c in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def backup_command(region: str, admin: str, keep_daily: int, keep_weekly: int) -> list[str]:
    """The command the job runs: the same `railzway backup` an operator would type."""
    return [
        "python",
        "-m",
        "railzway",
        "backup",
        "--all",
        "--region",
        region,
        "--admin-url",
        admin,
        "--registry",
        REGISTRY_IN_IMAGE,
        "--keep-daily",
        str(keep_daily),
        "--keep-weekly",
        str(keep_weekly),
    ]


def env_template(region: str) -> str:
    """consul-template that turns the job's variable into KEY=value lines, naming no key or value."""
    return (
        f'{{{{- with nomadVar "{variable_path(region)}" -}}}}\n'
        "{{- range .Tuples }}\n"
        "{{ .K }}={{ .V }}\n"
        "{{- end }}\n"
        "{{- end }}\n"
    )


def backup_jobspec(
    *,
    region: str,
    nomad_region: str,
    namespace: str,
    datacenters: Sequence[str],
    admin: str,
    image: str = DEFAULT_IMAGE,
    cron: str = DEFAULT_CRON,
    keep_daily: int = DEFAULT_KEEP_DAILY,
    keep_weekly: int = DEFAULT_KEEP_WEEKLY,
) -> dict[str, Any]:
    """The region's periodic backup job, wrapped as `{"Job": {...}}` in Nomad's JSON API field names."""
    if not datacenters:
        raise ValueError("datacenters must name at least one datacenter")
    if "password" in admin.lower():
        raise ValueError("the admin connection must not carry a password: the task reads PGPASSWORD")
    job = job_id(region)
    return {
        "Job": {
            "ID": job,
            "Name": job,
            "Type": "batch",
            "Region": nomad_region,
            "Namespace": namespace,
            "Datacenters": list(datacenters),
            # One run at a time: a slow night never overlaps the next, and times are UTC like the file names.
            "Periodic": {
                "Enabled": True,
                "Spec": cron,
                "SpecType": "cron",
                "ProhibitOverlap": True,
                "TimeZone": "UTC",
            },
            "TaskGroups": [
                {
                    "Name": "backup",
                    "Count": 1,
                    # A failed run is retried twice, then left failed for the operator (and `report` flags
                    # its tenants' backups stale); the next night starts afresh.
                    "RestartPolicy": {
                        "Attempts": 2,
                        "Interval": 3600 * jobspec.SECOND,
                        "Delay": 60 * jobspec.SECOND,
                        "Mode": "fail",
                    },
                    "Tasks": [
                        {
                            "Name": "backup",
                            "Driver": "docker",
                            "Config": {
                                "image": image,
                                "command": "python",
                                "args": backup_command(region, admin, keep_daily, keep_weekly)[1:],
                            },
                            "Resources": {"CPU": CPU_MHZ, "MemoryMB": MEMORY_MB},
                            "Templates": [
                                {
                                    "EmbeddedTmpl": env_template(region),
                                    "DestPath": ENV_FILE,
                                    "Envvars": True,
                                    "ChangeMode": "noop",
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    }


def render_backup_jobspec(**kwargs: Any) -> str:
    """`backup_jobspec(**kwargs)` as text with sorted keys, so equal jobs render byte-identical (no diff)."""
    return json.dumps(backup_jobspec(**kwargs), sort_keys=True, indent=2)


def backup_jobspec_findings(jobspec_text: str) -> list[str]:
    """Why this backup job spec leaks a credential or is not in Nomad's JSON API shape; empty when sound."""
    findings = jobspec.credential_findings(jobspec_text)
    try:
        document = json.loads(jobspec_text)
    except ValueError as e:
        return [*findings, f"not valid JSON: {e}"]
    findings.extend(_shape(document, "Root", ""))
    findings.extend(jobspec.image_findings(jobspec_text))
    return findings


def _shape(value: Any, struct: str, path: str) -> Iterator[str]:
    if not isinstance(value, Mapping):
        yield f"{path or 'the document'} is not an object"
        return
    for key, child in value.items():
        where = f"{path}.{key}" if path else key
        if key not in _ALLOWED[struct]:
            yield f"{where} is not a field of Nomad's {struct}"
            continue
        nested = _CHILDREN.get(struct, {}).get(key)
        if nested is None:
            continue
        name, is_list = nested
        for i, item in enumerate(child if is_list and isinstance(child, list) else [child]):
            yield from _shape(item, name, f"{where}[{i}]" if is_list else where)


def scheduled_regions(nomad_regions: Sequence[str], shard_set: set[tuple[str, int]] | None) -> list[str]:
    """The regions whose backup job this stack declares: one stack per region (`shards.owns_region_singletons`)."""
    return sorted(r for r in nomad_regions if owns_region_singletons(r, shard_set))
