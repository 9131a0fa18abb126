"""The project's Pulumi components: the only place that declares resources."""

from components.backup_schedule import BackupSchedule, BackupScheduleArgs
from components.tenant_instance import OUTPUT_KEYS, RESOURCE_TYPE, Adoption, TenantInstance, TenantInstanceArgs

__all__ = [
    "OUTPUT_KEYS",
    "RESOURCE_TYPE",
    "Adoption",
    "BackupSchedule",
    "BackupScheduleArgs",
    "TenantInstance",
    "TenantInstanceArgs",
]
