"""The `railzway-tenant-guardrails` policy pack: `pulumi preview --policy-pack policy`.

The rules live in `railzway.guardrails.pack` (tested there, with the facts they check imported from the same
modules the component builds from); this file only serves them to the engine. The project is installed,
editable, in the pack's own virtualenv (policy/.venv, from requirements.txt beside this file).
"""

from pulumi_policy import EnforcementLevel, PolicyPack

try:
    from railzway.guardrails.pack import PACK_NAME, POLICIES
except ModuleNotFoundError as missing:
    # Without the project the engine would show a traceback from inside its policy runner; the operator
    # needs the command. Any other missing module is a defect of the rules or their pins: its traceback stands.
    if missing.name != "railzway":
        raise
    raise SystemExit(
        "error: the policy pack's virtualenv (policy/.venv) does not have the railzway project installed:"
        " run `make install` at the project root (or `cd policy && .venv/bin/pip install -r requirements.txt`)"
    ) from None

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
