"""Where the tenants registry directory is: worked out here once, for the program, the policy pack and the service.

`$RAILZWAY_REGISTRY_DIR` wins: the service sets it, for the engine only, to a snapshot of the registry
branch at the commit it applies (never in a stack's configuration, so no stack ever points at a private
directory). Otherwise the stack's `railzway:registryDir` (a relative path is taken from the project root,
the directory holding Pulumi.yaml), else the project's `tenants/`: a checkout of the branch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

REGISTRY_DIR_ENV = "RAILZWAY_REGISTRY_DIR"
DEFAULT_REGISTRY_DIR = "tenants"
# The directory holding Pulumi.yaml: `railzway/registry/` is two levels below it.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def registry_dir(configured: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The registry directory: $RAILZWAY_REGISTRY_DIR, else `configured` (relative to the project), else tenants/."""
    env = os.environ if environ is None else environ
    chosen = (env.get(REGISTRY_DIR_ENV) or "").strip() or configured or DEFAULT_REGISTRY_DIR
    path = Path(chosen)
    return path if path.is_absolute() else PROJECT_ROOT / path
