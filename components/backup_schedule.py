"""`BackupSchedule`: a region's nightly `railzway backup --all --region R`, as a Nomad periodic batch job.

The job document comes from the pure `railzway.lifecycle.schedule` (tested without Pulumi); this
component only declares it on the region's Nomad with the region's own provider. Regions without Nomad
get no job: the scheduled GitHub workflow `.github/workflows/backup.yml` runs their backups.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_nomad as nomad

from railzway.config.stack_config import RegionEndpoints
from railzway.lifecycle import schedule

RESOURCE_TYPE = "railzway:index:BackupSchedule"


@dataclass(frozen=True)
class BackupScheduleArgs:
    """What a region's backup job is declared from."""

    region: str
    """The registry region whose tenants the job backs up."""
    endpoints: RegionEndpoints
    """The region's endpoints; `nomad` must be set (the job runs there) and `postgres` is whom it connects to."""
    nomad_provider: nomad.Provider
    """The region's Nomad provider."""
    image: str = schedule.DEFAULT_IMAGE
    """The operator image (this project and its registry), pinned by tag."""


class BackupSchedule(pulumi.ComponentResource):
    """One region's periodic backup job."""

    job_id: str
    """The Nomad job's id, `railzway-backup-<region>`."""

    def __init__(self, name: str, args: BackupScheduleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        if args.endpoints.nomad is None:
            raise ValueError(f"region {args.region} has no Nomad: its backups run from the scheduled workflow")
        pg, cluster = args.endpoints.postgres, args.endpoints.nomad
        nomad.Job(
            f"{name}-job",
            jobspec=schedule.render_backup_jobspec(
                region=args.region,
                nomad_region=cluster.region,
                namespace=cluster.namespace,
                datacenters=cluster.datacenters,
                admin=schedule.admin_conninfo(pg.host, pg.port, pg.username, pg.sslmode),
                image=args.image,
            ),
            json=True,
            opts=pulumi.ResourceOptions(parent=self, provider=args.nomad_provider),
        )
        self.job_id = schedule.job_id(args.region)
        self.register_outputs({"job_id": self.job_id})
