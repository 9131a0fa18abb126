"""Where the rules that need the tier catalogue find it: the policy's `registryDir` config, else the
registry the program reads. Only `tiers.yaml` is read: each tenant's tier and status come from the engine
(the TenantInstance's outputs in the stack view), never from the tenant files."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi.runtime
from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
)

from railzway.guardrails.engine_values import STACK_CONFIG_NAMESPACE
from railzway.registry.loader import RegistryError, load_tier_catalogue
from railzway.registry.location import PROJECT_ROOT, REGISTRY_DIR_ENV, registry_dir
from railzway.registry.model import TierCatalogue

# Where the tier catalogue comes from (see `registry_dir_for`). A relative path is taken from the project
# root (the directory holding Pulumi.yaml), as the program takes it.
REGISTRY_DIR_CONFIG = "registryDir"


def registry_dir_for(config: Mapping[str, Any] | None = None) -> Path:
    """The registry a policy checks tiers against.

    The policy's `registryDir` config, else $RAILZWAY_REGISTRY_DIR, else the stack's own `railzway:registryDir`
    (the engine hands policy packs the stack's configuration), else the project's `tenants/`.
    """
    configured = (config or {}).get(REGISTRY_DIR_CONFIG)
    if configured:
        path = Path(str(configured))
        return path if path.is_absolute() else PROJECT_ROOT / path
    return registry_dir(pulumi.runtime.get_config(f"{STACK_CONFIG_NAMESPACE}:{REGISTRY_DIR_CONFIG}"))


@functools.lru_cache(maxsize=8)
def _catalogue_at(directory: Path) -> TierCatalogue:
    # One pack process serves one preview: parse the catalogue once, not once per resource.
    return load_tier_catalogue(directory)


def tier_catalogue(config: Mapping[str, Any], report_violation: ReportViolation) -> TierCatalogue | None:
    """The tiers the policy judges against, or None after reporting why they cannot be read."""
    directory = registry_dir_for(config)
    try:
        return _catalogue_at(directory)
    except RegistryError as e:
        first = e.problems[0].text() if e.problems else "invalid"
        report_violation(
            f"Cannot check against the tier catalogue: the registry at {directory} is invalid ({first}). "
            f"Fix it (`railzway validate {directory}`) or point the policy's `{REGISTRY_DIR_CONFIG}` config "
            f"or ${REGISTRY_DIR_ENV} at the stack's registry.",
            None,
        )
        return None


REGISTRY_CONFIG_SCHEMA = PolicyConfigSchema(
    properties={
        REGISTRY_DIR_CONFIG: {
            "type": "string",
            "description": f"The tenants registry directory (default: ${REGISTRY_DIR_ENV}, else the project's tenants/).",
        }
    }
)
