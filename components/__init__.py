"""The project's Pulumi components: the only place that declares resources."""

from components.tenant_instance import OUTPUT_KEYS, RESOURCE_TYPE, Adoption, TenantInstance, TenantInstanceArgs

__all__ = ["OUTPUT_KEYS", "RESOURCE_TYPE", "Adoption", "TenantInstance", "TenantInstanceArgs"]
