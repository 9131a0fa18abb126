"""The project's Pulumi components: the only place that declares resources."""

from components.backup_schedule import BackupSchedule, BackupScheduleArgs
from components.region_hardening import RegionHardening
from components.tenant_instance import (
    OUTPUT_KEYS,
    RESOURCE_TYPE,
    Adoption,
    TenantHooks,
    TenantInstance,
    TenantInstanceArgs,
    TenantPart,
    part_hooks,
)
from components.tenant_lockout import end_sessions_hook

__all__ = [
    "OUTPUT_KEYS",
    "RESOURCE_TYPE",
    "Adoption",
    "BackupSchedule",
    "BackupScheduleArgs",
    "RegionHardening",
    "TenantHooks",
    "TenantInstance",
    "TenantInstanceArgs",
    "TenantPart",
    "end_sessions_hook",
    "part_hooks",
]
