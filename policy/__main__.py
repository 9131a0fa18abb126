"""The `railzway-tenant-guardrails` policy pack: `pulumi preview --policy-pack policy`.

The rules live in `railzway.guardrails.pack` (tested there, with the facts they check imported from the same
modules the component builds from); this file only serves them to the engine.
"""

import sys
from pathlib import Path

# The CLI runs this pack in its own virtualenv (policy/.venv), where the project's `railzway` package is
# not installed. The rules must be the project's own code, not a copy that could drift from the
# component, so the project root (the parent of this directory) goes on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from railzway.guardrails.pack import PACK_NAME, POLICIES

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
