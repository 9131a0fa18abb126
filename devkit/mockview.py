"""What a stack policy would receive for a program run under mocks, in the real engine's representation.

The engine hands a stack policy (`AnalyzeStack`) every resource with its **outputs**, not its inputs:
a custom resource's stored outputs plus `id`, a component's `register_outputs` map, the stack's own
outputs on the `pulumi:pulumi:Stack` resource, a provider's configuration as strings; every number is a
double; default providers (`default_<version>`) appear as resources. `../shared/engine/up/stack.json`
records this for this program; `stack_view` builds the same from a `mockrun.ProgramRun`, in the same row
format (`type`, `name`, `urn`, `props`, `parent`, `provider`, `dependencies`, `property_dependencies`), so a
test can compare the two and the policy tests can run on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devkit.mockrun import PROVIDER_TYPE_PREFIX, ProgramRun, RecordedResource
from devkit.pulumi_internals import STACK_TYPE

Row = dict[str, Any]


def stack_view(run: ProgramRun) -> list[Row]:
    """Every resource of the run as the engine's stack policy sees it after `up`."""
    stack_name = run.stack_urn.rsplit("::", 1)[-1]
    prefix = run.stack_urn.split("::")[0] + "::" + run.stack_urn.split("::")[1]
    rows = [
        _row(STACK_TYPE, stack_name, run.stack_urn, {key: as_doubles(v) for key, v in run.outputs.items()}),
    ]
    default_providers: dict[str, Row] = {}
    for r in run.resources:
        provider = r.provider
        if r.custom and provider is None and not r.type.startswith(PROVIDER_TYPE_PREFIX):
            package = r.type.split(":", 1)[0]
            name = "default_" + r.version.replace(".", "_")
            provider = f"{prefix}::{PROVIDER_TYPE_PREFIX}{package}::{name}"
            default_providers.setdefault(
                provider, _row(f"{PROVIDER_TYPE_PREFIX}{package}", name, provider, {"version": r.version})
            )
        rows.append(
            _row(
                r.type,
                r.name,
                r.urn,
                _props(r, run),
                parent=r.parent,
                provider=provider,
                dependencies=list(r.dependencies),
                property_dependencies={
                    key: list(urns) for key, urns in r.options.get("propertyDependencies", {}).items() if urns
                },
            )
        )
    return rows + list(default_providers.values())


def as_doubles(value: Any) -> Any:
    """`value` with every number a float, as numbers travel to a policy pack (protobuf doubles)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, Mapping):
        return {key: as_doubles(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [as_doubles(child) for child in value]
    return value


def _props(r: RecordedResource, run: ProgramRun) -> dict[str, Any]:
    if not r.custom:
        # A component's outputs are what it registered (`register_outputs`); the SDK sends no null ones.
        registered = run.registered_outputs.get(r.urn, {})
        return {key: as_doubles(value) for key, value in registered.items() if value is not None}
    if r.type.startswith(PROVIDER_TYPE_PREFIX):
        return dict(r.state)
    return {**as_doubles(dict(r.state)), "id": r.id}


def _row(
    resource_type: str,
    name: str,
    urn: str,
    props: Mapping[str, Any],
    *,
    parent: str | None = None,
    provider: str | None = None,
    dependencies: list[str] | None = None,
    property_dependencies: Mapping[str, list[str]] | None = None,
) -> Row:
    return {
        "type": resource_type,
        "name": name,
        "urn": urn,
        "props": dict(props),
        "parent": parent,
        "provider": provider,
        "dependencies": dependencies or [],
        "property_dependencies": dict(property_dependencies or {}),
    }
