"""What the real Pulumi engine handed a policy pack, replayed from `<project root>/../shared/engine/`.

The transcripts there were written by `dump_policy_pack.py` under the real engine (see that folder's
README.md): per view folder, `resources.jsonl` holds one line per resource-policy call (the resource's
inputs after the provider's Check) and `stack.json` the stack policy's view (every resource's outputs,
parent, provider, dependencies and property dependencies). This module turns them back into the arguments
the pack's gRPC server builds (`ResourceValidationArgs`, `StackValidationArgs`), so a test runs a validator
on exactly what the engine sent.

    rows = stack_rows("up")                                        # plain dicts, one per resource
    rows = with_props(rows, "org-1001-role", superuser=True)       # a mutated copy
    args = stack_args(rows)                                        # what a stack policy receives
    resource_args(resource_rows("preview-nomad"), stack_rows("preview-nomad"))

Rows are plain JSON (`type`, `name`, `urn`, `props`, `parent`, `provider`, `dependencies`,
`property_dependencies`); add a resource with `added(rows, row(...))`, and to the resource view of the same
run with `added(resource_rows(view), called_as(new_row, stack))`. The dumper wrote an unknown value
as the string "<unknown>"; it is given back as the policy SDK's unknown sentinel, so reading it raises
`UnknownValueError` as it did in the engine. Numbers stay as the engine sent them: floats.

The transcripts live beside the project (CI copies `shared/` next to the clone): every test using them
skips with one reason when that folder is absent.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

PROJECT = Path(__file__).resolve().parents[2]
ENGINE_DIR = PROJECT.parent / "shared" / "engine"
VIEWS = ("preview-nomad", "up", "preview-nochange")
"""preview-nomad: a create preview with Nomad (unknowns); up: the same stack created, eu-west without
Nomad; preview-nochange: a preview right after that `up`."""
DUMPED_UNKNOWN = "<unknown>"
SKIP_REASON = f"the real engine's transcripts are not at {ENGINE_DIR} (CI copies shared/ beside the clone)"

needs_transcripts = pytest.mark.skipif(not ENGINE_DIR.is_dir(), reason=SKIP_REASON)
"""Mark for every test that reads the transcripts."""

Row = dict[str, Any]


def stack_rows(view: str) -> list[Row]:
    """The stack policy's view of a recorded run, brought up to today's program (`since_the_recording`)."""
    return since_the_recording(recorded_stack_rows(view), stack=True)


def resource_rows(view: str) -> list[Row]:
    """The resource policy calls of a recorded run, brought up to today's program (`since_the_recording`)."""
    stack = since_the_recording(recorded_stack_rows(view), stack=True)
    return since_the_recording(recorded_resource_rows(view), stack=False, stack_view=stack)


def recorded_stack_rows(view: str) -> list[Row]:
    """The stack policy's view exactly as recorded: one row per resource, in the engine's order."""
    rows: list[Row] = json.loads((ENGINE_DIR / view / "stack.json").read_text())
    return rows


def recorded_resource_rows(view: str) -> list[Row]:
    """The resource policy calls exactly as recorded: one row per call (`type`, `name`, `urn`, `props`,
    `provider`: the provider's properties, not its URN)."""
    lines = (ENGINE_DIR / view / "resources.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# What the program declares differently since the transcripts were recorded, applied to them in the engine's
# own representation (floats, an empty privilege set as null at stack level), so the replays judge today's
# program and every other value stays as the engine sent it:
# - a terminated tenant's role: connection limit 0 and VALID UNTIL '-infinity' (issue 13, `spec.role_*`);
# - per region, `RegionHardening`: a component and two grants revoking PUBLIC on `postgres` and `template1`,
#   shaped like the recorded tenant grants (issue 13, `components/region_hardening.py`).
# `test_recorded_engine_views.py` checks that the raw recordings differ from these rows by exactly this.
TERMINATED_ROLE_PROPS = {"connectionLimit": 0.0, "validUntil": "-infinity"}
HARDENED_DATABASES = ("postgres", "template1")
HARDENING_TYPE = "railzway:index:RegionHardening"


def since_the_recording(rows: Sequence[Row], *, stack: bool, stack_view: Sequence[Row] = ()) -> list[Row]:
    changed = copy.deepcopy(list(rows))
    terminated = _terminated_roles(changed if stack else stack_view)
    for r in changed:
        if r["name"] in terminated:
            r["props"].update(TERMINATED_ROLE_PROPS)
    providers = [r for r in (changed if stack else stack_view) if r["type"] == "pulumi:providers:postgresql"]
    new: list[Row] = []
    for provider in providers:
        region = provider["name"].removeprefix("postgresql-")
        component = row(HARDENING_TYPE, f"region-{region}", {"region": region, "databases": list(HARDENED_DATABASES)})
        grants = [
            row(
                "postgresql:index/grant:Grant",
                f"region-{region}-{database}-revoke-public",
                {
                    "database": database,
                    "role": "public",
                    "objectType": "database",
                    "privileges": None if stack else [],
                    "withGrantOption": False,
                    **({"columns": None, "objects": None, "schema": None} if stack else {}),
                },
                parent=component["urn"],
                provider=provider["urn"],
            )
            for database in HARDENED_DATABASES
        ]
        if stack:
            new += [component, *grants]
        else:
            new += [called_as(grant, stack_view) for grant in grants]
    return [*changed, *new]


def _terminated_roles(stack_view: Sequence[Row]) -> set[str]:
    """The role names of the tenants whose component says `status: terminated` in the stack view."""
    return {
        f"{r['name']}-role"
        for r in stack_view
        if r["type"] == "railzway:index:TenantInstance" and r["props"].get("status") == "terminated"
    }


def stack_config(view: str) -> dict[str, Any]:
    """The `railzway:` configuration the recorded run used, without the namespace, as objects.

    `preview-nomad/preview-events.json` holds it; `up` (and the no-change preview after it) ran the same
    stack with eu-west's `nomad` block removed (README.md of the transcripts).
    """
    events = json.loads((ENGINE_DIR / "preview-nomad" / "preview-events.json").read_text())
    config = {key.split(":", 1)[1]: _config_value(value) for key, value in events["config"].items()}
    if view != "preview-nomad":
        config["regions"]["eu-west"].pop("nomad", None)
    return config


def _config_value(value: Any) -> Any:
    # The engine shows object and array values of the config as JSON text.
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def find(rows: Sequence[Row], name: str) -> Row:
    """The one row with this logical name."""
    found = [r for r in rows if r["name"] == name]
    if len(found) != 1:
        raise KeyError(f"{len(found)} recorded resources named {name!r}")
    return found[0]


def with_props(rows: Sequence[Row], name: str, **props: Any) -> list[Row]:
    """A copy of `rows` where the resource `name` has these properties changed (or added)."""
    find(rows, name)
    changed = copy.deepcopy(list(rows))
    find(changed, name)["props"].update(copy.deepcopy(props))
    return changed


def without(rows: Sequence[Row], name: str) -> list[Row]:
    """A copy of `rows` without the resource `name`."""
    find(rows, name)
    return [copy.deepcopy(r) for r in rows if r["name"] != name]


def added(rows: Sequence[Row], *new: Row) -> list[Row]:
    """A copy of `rows` with these resources appended."""
    return [*copy.deepcopy(list(rows)), *copy.deepcopy(list(new))]


def row(
    resource_type: str,
    name: str,
    props: Mapping[str, Any],
    *,
    parent: str | None = None,
    provider: str | None = None,
    dependencies: Sequence[str] = (),
    property_dependencies: Mapping[str, Sequence[str]] | None = None,
    stack: str = "cap",
    project: str = "railzway",
) -> Row:
    """A new stack-view row in the recorded runs' URN scheme (stack `cap`, project `railzway`)."""
    parent_type = _urn_type_chain(parent) if parent else None
    qualified = f"{parent_type}${resource_type}" if parent_type else resource_type
    return {
        "type": resource_type,
        "name": name,
        "urn": f"urn:pulumi:{stack}::{project}::{qualified}::{name}",
        "props": dict(props),
        "parent": parent,
        "provider": provider,
        "dependencies": list(dependencies),
        "property_dependencies": {k: list(v) for k, v in (property_dependencies or {}).items()},
    }


def called_as(stack_row: Row, stack: Sequence[Row]) -> Row:
    """The resource-policy call for a resource given as a stack-view row: the same type, name, URN and
    properties, with its provider's properties (looked up in `stack`) in place of the provider's URN."""
    provider = next((r["props"] for r in stack if r["urn"] == stack_row.get("provider")), None)
    return {key: copy.deepcopy(stack_row[key]) for key in ("type", "name", "urn", "props")} | {"provider": provider}


def as_engine_props(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """Properties as the pack's gRPC server hands them to a validator: the dumper's "<unknown>" back to
    the SDK's sentinel, through a protobuf Struct, the SDK's deserializer and its unknown-checking proxy."""
    struct = struct_pb2.Struct()
    struct.update(_with_sentinels(dict(props)))
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))


def stack_args(rows: Sequence[Row], config: Mapping[str, Any] | None = None) -> StackValidationArgs:
    """What a stack policy receives for these rows, parents, providers and dependencies linked by URN
    as the policy SDK links them."""
    by_urn = {r["urn"]: r for r in rows}
    resources = {
        r["urn"]: PolicyResource(
            r["type"],
            as_engine_props(r["props"]),
            r["urn"],
            r["name"],
            resource_options(r.get("parent")),
            _provider(by_urn, r.get("provider")),
            None,
            [],
            {},
        )
        for r in rows
    }
    for r in rows:
        resource = resources[r["urn"]]
        resource.parent = resources.get(r["parent"]) if r.get("parent") else None
        resource.dependencies = [resources[u] for u in r.get("dependencies", []) if u in resources]
        for key, urns in r.get("property_dependencies", {}).items():
            resource.property_dependencies[key] = [resources[u] for u in urns if u in resources]
    return StackValidationArgs(list(resources.values()), config)


def resource_args(
    rows: Sequence[Row], stack: Sequence[Row], config: Mapping[str, Any] | None = None
) -> list[ResourceValidationArgs]:
    """What each resource policy call received, one per custom resource row (`pulumi:` providers and the
    stack are skipped, as the pack skips them by type anyway).

    The dumper wrote the provider's properties but neither the parent nor the provider's URN; the engine
    sends both (`AnalyzerResourceOptions.parent`, `AnalyzerProviderResource.urn`), and they are the same
    resource's in the stack view of the same run, so they are taken from there.
    """
    linked = {r["urn"]: r for r in stack}
    args = []
    for r in rows:
        if r["type"].startswith("pulumi:"):
            continue
        in_stack = linked.get(r["urn"], {})
        provider_urn = in_stack.get("provider")
        provider = None
        if provider_urn:
            provider = PolicyProviderResource(
                _urn_type_chain(provider_urn).rsplit("$", 1)[-1],
                as_engine_props(r.get("provider") or {}),
                provider_urn,
                provider_urn.rsplit("::", 1)[-1],
            )
        args.append(
            ResourceValidationArgs(
                r["type"],
                as_engine_props(r["props"]),
                r["urn"],
                r["name"],
                resource_options(in_stack.get("parent")),
                provider,
                config,
            )
        )
    return args


Found = tuple[str, str | None, str]
"""(policy name, URN of the resource at fault, message)."""


def violations(
    policies: Sequence[Any],
    resources: Sequence[ResourceValidationArgs],
    stack: StackValidationArgs,
) -> list[Found]:
    """Every violation these `Policy` objects report on one recorded view. A resource policy's violation
    is on the resource it was called for (the engine attaches it), a stack policy's on the URN it names."""
    from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

    found: list[Found] = []

    def reporter(policy: str, at: str | None) -> ReportViolation:
        def report(message: str, urn: str | None = None) -> None:
            found.append((policy, urn or at, message))

        return report

    for policy in policies:
        if isinstance(policy, ResourceValidationPolicy):
            validate: Callable[..., Any] = policy.validate
            for args in resources:
                validate(args, reporter(policy.name, args.urn))
        elif isinstance(policy, StackValidationPolicy):
            policy.validate(stack, reporter(policy.name, None))
    return found


def _with_sentinels(value: Any) -> Any:
    if value == DUMPED_UNKNOWN:
        return UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {k: _with_sentinels(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_sentinels(v) for v in value]
    return value


def _urn_type_chain(urn: str) -> str:
    """The qualified type of a URN (`<parent types$>type`)."""
    return urn.split("::", 3)[2]


def resource_options(parent: str | None = None) -> PolicyResourceOptions:
    """The options the engine sends for a resource declared with none but its parent."""
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )


def _provider(by_urn: Mapping[str, Row], urn: str | None) -> PolicyProviderResource | None:
    if not urn:
        return None
    declared = by_urn.get(urn)
    props = as_engine_props(declared["props"]) if declared else {}
    return PolicyProviderResource(_urn_type_chain(urn).rsplit("$", 1)[-1], props, urn, urn.rsplit("::", 1)[-1])
