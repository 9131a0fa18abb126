"""Run the project's Pulumi program under Pulumi's unit-test mocks and record what it declares.

For tests, the policy pack's tests and the fleet benchmark: no engine, no plugins, no network.

    run = run_program(registry_dir, {"regions": {...}, "shards": ["eu-west/0"]})
    role = run.get("org-1001-role")
    role.inputs["createDatabase"]      # False: the wire (camelCase) name, as the engine sees it
    role.retain_on_delete              # True: recorded from the RegisterResource request
    run.outputs["tenants"]["1001"]["db_password"]
    run.is_secret_output("tenants.1001.db_password")   # True

How: `pulumi.runtime.set_mocks` with a `MockMonitor` subclass that records every `RegisterResource`
request (type, name, parent, provider, dependencies, and options such as retainOnDelete, which the
plain `Mocks.new_resource` never sees), then `runpy.run_path(<project dir>)` exactly as Pulumi's
Python language host runs a program. The mocks echo inputs as outputs, with ids `<name>_id`, and add
outputs only by type token (a `RandomPassword`'s `result`: a deterministic function of its name and
keepers, so two runs agree and a rotation changes it). Secrets are unwrapped in `inputs`/`outputs`; the
dotted paths that were secret are kept in `secret_inputs` / `secret_outputs`.

Where the real engine's representation differs from the inputs, the mocks give the engine's (recorded in
`../shared/engine/`): a resource's outputs hold every output property of its type (null when unset), an
empty set the provider stores is null (the revoke grant's `privileges`), a provider's outputs are its
configuration as strings plus `version`, and URNs of the stack's children carry no `pulumi:pulumi:Stack`.
`devkit.mockview` builds a stack policy's view of a run from them.

Pulumi's runtime state is global: run one program at a time per process (not thread-safe). Each call
resets the runtime, so calls are independent.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib
import importlib.metadata
import inspect
import json
import logging
import runpy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import massage, run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from railzway.admin import sessions as admin_session
from railzway.tenant import password_rules

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT_NAME = "railzway"
GENERATED_BY_PROVIDER = ("random:index/randomPassword:RandomPassword",)
STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"
# Set-typed properties the provider stores as null when empty: the revoke grant declared with
# `privileges=[]` has `"privileges": null` in the engine's stack view (../shared/engine/up/stack.json).
EMPTY_SETS_STORED_AS_NULL: dict[str, tuple[str, ...]] = {
    "postgresql:index/grant:Grant": ("privileges", "objects", "columns"),
}
# What a provider's CheckConfig adds to its configuration (recorded: postgresql's `connectTimeout`).
PROVIDER_CONFIG_DEFAULTS: dict[str, dict[str, str]] = {"postgresql": {"connectTimeout": "180"}}


@dataclass(frozen=True)
class RecordedResource:
    """One `RegisterResource` request, as the engine would receive it."""

    type: str
    name: str
    urn: str
    custom: bool
    parent: str | None
    """The parent's URN (None for children of the stack)."""
    provider: str | None
    """The explicit provider's URN, or None when the default provider is used."""
    inputs: Mapping[str, Any]
    """Input properties by wire (camelCase) name, secrets unwrapped."""
    secret_inputs: frozenset[str]
    """Dotted paths into `inputs` whose value was sent as a secret."""
    dependencies: tuple[str, ...]
    """URNs this resource depends on (depends_on and the inputs' own dependencies)."""
    retain_on_delete: bool
    protect: bool
    options: Mapping[str, Any]
    """Further options as sent: importId, deleteBeforeReplace, ignoreChanges, additionalSecretOutputs, aliases..."""
    id: str = ""
    """The id the mocks gave a custom resource."""
    state: Mapping[str, Any] = field(default_factory=dict)
    """The outputs the mocks returned, as the engine stores them (see `EchoMocks`); secrets unwrapped."""
    version: str = ""
    """The provider plugin version the SDK asked for (names the default provider: `default_4_21_4`)."""

    def is_secret(self, path: str) -> bool:
        """Whether the input at `path` (or a value containing it) was sent as a secret."""
        return _covered(path, self.secret_inputs)


@dataclass(frozen=True)
class ProgramRun:
    """Everything one run of the program declared."""

    resources: tuple[RecordedResource, ...]
    outputs: Mapping[str, Any]
    """The stack outputs, secrets unwrapped."""
    secret_outputs: frozenset[str]
    """Dotted paths into `outputs` that were secret."""
    registered_outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """What each component passed to `register_outputs`, by URN, secrets unwrapped."""
    secret_registered_outputs: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Per URN, the dotted paths into `registered_outputs[urn]` that were secret."""
    logs: tuple[tuple[str, str], ...] = field(default=())
    """(level, message) of what the program logged through `pulumi.log` at info level and above."""
    stack_urn: str = ""
    """The URN of the stack resource (`pulumi:pulumi:Stack`) every top-level resource is a child of."""
    resource_hooks: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)
    """Every resource hook the program registered with the engine, by name: its `on_dry_run` and
    `ignore_errors` flags. (The mocks never call a hook: no step of a deployment runs.)"""

    def get(self, name: str) -> RecordedResource:
        """The resource with this logical name (KeyError when there is none, ValueError when several)."""
        found = [r for r in self.resources if r.name == name]
        if not found:
            raise KeyError(f"no resource named {name!r}")
        if len(found) > 1:
            raise ValueError(f"{len(found)} resources named {name!r}")
        return found[0]

    def find(self, name: str) -> RecordedResource | None:
        """The resource with this logical name, or None."""
        found = [r for r in self.resources if r.name == name]
        return found[0] if len(found) == 1 else None

    def of_type(self, type_token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_token]

    def children_of(self, urn: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.parent == urn]

    def is_secret_output(self, path: str) -> bool:
        """Whether the output at `path` (dotted, e.g. `tenants.1001.db_password`) was secret."""
        return _covered(path, self.secret_outputs)


class EchoMocks(pulumi_mocks.Mocks):
    """Outputs as the engine stores them: every output property of the type (null unless an input sets it),
    the inputs, and what a provider computes, by type token."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ.startswith(PROVIDER_TYPE_PREFIX):
            return f"{args.name}_id", provider_state(args.typ, args.inputs)
        state = {**dict.fromkeys(output_names(args.typ)), **args.inputs}
        for key in EMPTY_SETS_STORED_AS_NULL.get(args.typ, ()):
            if state.get(key) == []:
                state[key] = None
        if args.typ in GENERATED_BY_PROVIDER:
            result = fake_password(args.name, rpc.unwrap_rpc_secret(args.inputs.get("keepers", {})))
            state["result"] = result
            state["bcryptHash"] = "$2a$10$" + hashlib.sha256(result.encode()).hexdigest()[:53]
        return f"{args.name}_id", state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


@functools.lru_cache(maxsize=64)
def output_names(type_token: str) -> tuple[str, ...]:
    """The wire names of a resource type's output properties, read from its Python SDK's getters
    (`postgresql:index/role:Role` -> `pulumi_postgresql.Role`); none for a type without an SDK class."""
    package, _module, name = type_token.split(":", 2)
    try:
        cls = getattr(importlib.import_module(f"pulumi_{package}"), name)
    except (ImportError, AttributeError):
        return ()
    getters = (member.fget for _, member in inspect.getmembers(cls, lambda m: isinstance(m, property)))
    return tuple(sorted(str(n) for n in (getattr(g, "_pulumi_name", None) for g in getters) if n))


def provider_state(type_token: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A provider's outputs as the engine stores them: its configuration with every value a string (JSON
    text for numbers and objects), what its CheckConfig adds, and the plugin `version`."""
    package = type_token.removeprefix(PROVIDER_TYPE_PREFIX)
    state: dict[str, Any] = dict(PROVIDER_CONFIG_DEFAULTS.get(package, {}))
    for key, value in inputs.items():
        plain = rpc.unwrap_rpc_secret(value)
        if plain is not None:
            state[key] = plain if isinstance(plain, str) else json.dumps(plain)
    try:
        state["version"] = importlib.metadata.version(f"pulumi_{package}")
    except importlib.metadata.PackageNotFoundError:
        pass
    return state


def fake_password(name: str, keepers: Mapping[str, Any]) -> str:
    """A stand-in for a generated password: stable per (name, keepers), in the generated alphabet."""
    seed = json.dumps([name, dict(keepers)], sort_keys=True).encode()
    text = base64.urlsafe_b64encode(hashlib.sha256(seed).digest()).decode().rstrip("=")
    return text[: password_rules.PASSWORD_LENGTH]


_HOOK_POINTS = ("before_create", "after_create", "before_update", "after_update", "before_delete", "after_delete")


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps every registration request and the stack's outputs."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []
        self.registered_outputs: dict[str, dict[str, Any]] = {}
        self.secret_registered_outputs: dict[str, frozenset[str]] = {}
        self.stack_urn = ""
        self.resource_hooks: dict[str, dict[str, bool]] = {}

    def RegisterResourceHook(self, request: Any) -> Any:
        self.resource_hooks[request.name] = {
            "on_dry_run": bool(request.on_dry_run),
            "ignore_errors": bool(request.ignore_errors),
        }
        return super().RegisterResourceHook(request)

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine names them: a child of the stack resource has no `pulumi:pulumi:Stack$` in its type.
        if parent and parent.split("::")[2] != STACK_TYPE:
            type_ = parent.split("::")[2] + "$" + type_
        return super().make_urn("", type_, name)

    def RegisterResourceOutputs(self, request: Any) -> Any:
        secrets: set[str] = set()
        self.registered_outputs[request.urn] = _from_wire(request.outputs, secrets)
        self.secret_registered_outputs[request.urn] = frozenset(secrets)
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == STACK_TYPE:
            self.stack_urn = response.urn
            return response
        secrets: set[str] = set()
        inputs = _from_wire(request.object, secrets)
        provider = request.provider.rsplit("::", 1)[0] if request.provider else None
        self.recorded.append(
            RecordedResource(
                type=request.type,
                name=request.name,
                urn=response.urn,
                custom=bool(request.custom),
                parent=request.parent or None,
                provider=provider,
                inputs=inputs,
                secret_inputs=frozenset(secrets),
                dependencies=tuple(request.dependencies),
                retain_on_delete=bool(request.retainOnDelete),
                protect=bool(request.protect),
                id=response.id,
                state=_unwrap(self.resources[response.urn].state, "", set(), keep_floats=True),
                version=request.version,
                options={
                    "importId": request.importId or None,
                    "deleteBeforeReplace": bool(request.deleteBeforeReplace),
                    "ignoreChanges": list(request.ignoreChanges),
                    "additionalSecretOutputs": list(request.additionalSecretOutputs),
                    "replaceOnChanges": list(request.replaceOnChanges),
                    "aliases": [str(a) for a in request.aliases],
                    "deletedWith": request.deletedWith or None,
                    # Hook names by lifecycle point (`after_update`, ...), only the points that have any.
                    "hooks": {
                        point: list(getattr(request.hooks, point))
                        for point in _HOOK_POINTS
                        if getattr(request.hooks, point)
                    },
                    "propertyDependencies": {
                        key: list(deps.urns) for key, deps in request.propertyDependencies.items()
                    },
                },
            )
        )
        return response


def run_program(
    registry_dir: str | Path,
    config: Mapping[str, Any],
    *,
    secret_keys: Iterable[str] = (),
    stack: str = "dev",
    project_dir: str | Path = PROJECT_DIR,
    preview: bool = False,
    admin_check: admin_session.RegionAdminCheck | None = None,
) -> ProgramRun:
    """Run `<project_dir>/__main__.py` under mocks with this registry and stack configuration.

    `config` holds the `railzway:` values without the namespace (`regions`, `shards`, `imageRepository`,
    ...), as objects; `registryDir` is set to `registry_dir`. `secret_keys` names the keys Pulumi would
    hold as secrets. Errors the program raises (e.g. `pulumi.RunError` for an invalid registry) propagate.

    The program checks each region's admin on its server before declaring providers; under mocks there is
    no server unless a test brings one, so `admin_check` answers for it (default: every admin is safe;
    pass `admin_session.check_region_admin` to check a real server).
    """
    monitor = RecordingMonitor(EchoMocks())
    logger = logging.getLogger("devkit.mockrun.engine")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    capture = _Capture()
    logger.handlers = [capture]

    settings.reset_options(project=PROJECT_NAME, stack=stack, preview=preview)
    pulumi.runtime.set_mocks(
        monitor.mocks, project=PROJECT_NAME, stack=stack, preview=preview, logger=logger, monitor=monitor
    )
    values = {**config, "registryDir": str(registry_dir)}
    pulumi.runtime.set_all_config(
        {
            f"{PROJECT_NAME}:{key}": value if isinstance(value, str) else json.dumps(value)
            for key, value in values.items()
        },
        [f"{PROJECT_NAME}:{key}" for key in secret_keys],
    )

    program = str(Path(project_dir))

    def run() -> None:
        # As Pulumi's language host does: run the project directory, whose __main__.py is the program.
        runpy.run_path(program, run_name="__main__")

    with admin_session.checked_by(admin_check or _no_server):
        _sync_await(run_pulumi_func(run))

    root = settings.get_root_resource()
    exported = getattr(root, "outputs", {}) or {}
    # Serialized exactly as the stack registers its outputs with the engine.
    wire = _sync_await(rpc.serialize_properties(massage(dict(exported), []), {}))
    secrets: set[str] = set()
    outputs = _from_wire(wire, secrets)
    return ProgramRun(
        resources=tuple(monitor.recorded),
        outputs=outputs,
        secret_outputs=frozenset(secrets),
        registered_outputs=monitor.registered_outputs,
        secret_registered_outputs=monitor.secret_registered_outputs,
        logs=tuple(capture.records),
        resource_hooks=dict(monitor.resource_hooks),
        stack_urn=monitor.stack_urn,
    )


def _no_server(region: str, endpoint: Any) -> str | None:
    """The mocks' admin check: no server to ask, so no region is refused."""
    return None


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname.lower(), record.getMessage()))


def _from_wire(struct: Any, secrets: set[str]) -> dict[str, Any]:
    # Read the protobuf struct directly rather than through the SDK's deserializer, which drops null
    # values and pushes a nested secret up to the whole enclosing object: we want what the engine gets.
    result = _unwrap(json_format.MessageToDict(struct), "", secrets)
    return result if isinstance(result, dict) else {}


def _unwrap(value: Any, path: str, secrets: set[str], keep_floats: bool = False) -> Any:
    if rpc.is_rpc_secret(value):
        secrets.add(path)
        return _unwrap(value.get("value"), path, secrets, keep_floats)
    if isinstance(value, Mapping):
        return {
            key: _unwrap(child, f"{path}.{key}" if path else str(key), secrets, keep_floats)
            for key, child in value.items()
        }
    if isinstance(value, list):
        return [_unwrap(child, f"{path}[{i}]", secrets, keep_floats) for i, child in enumerate(value)]
    if keep_floats:
        # As the engine holds them: every number a double (`connectionLimit: 40.0`).
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
    # Numbers travel as doubles; give integral ones back as int, as `pulumi stack output --json` shows them.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _covered(path: str, secret_paths: frozenset[str]) -> bool:
    return any(path == p or path.startswith(f"{p}.") or path.startswith(f"{p}[") for p in secret_paths)
