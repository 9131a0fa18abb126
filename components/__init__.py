"""The project's Pulumi components: the only place that declares resources."""

from components.tenant_instance import (
    OUTPUT_KEYS,
    RESOURCE_TYPE,
    TenantHooks,
    TenantInstance,
    TenantInstanceArgs,
    TenantPart,
    part_hooks,
)

__all__ = [
    "OUTPUT_KEYS",
    "RESOURCE_TYPE",
    "TenantHooks",
    "TenantInstance",
    "TenantInstanceArgs",
    "TenantPart",
    "part_hooks",
]
