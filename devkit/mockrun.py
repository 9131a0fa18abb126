"""Run the project's Pulumi program under Pulumi's unit-test mocks and record what it declares.

For tests, the policy pack's tests and the fleet benchmark: no engine, no plugins, no network.

    run = run_program(registry_dir, {"regions": {...}, "shards": ["eu-west/0"]})
    role = run.get("org-1001-role")
    role.inputs["createDatabase"]      # False: the wire (camelCase) name, as the engine sees it
    role.retain_on_delete              # True: recorded from the RegisterResource request
    run.outputs["tenants"]["1001"]["db_password"]
    run.is_secret_output("tenants.1001.db_password")   # True

How: `devkit.pulumi_internals.run_recorded` (the one function that uses the SDK's internals) runs
`runpy.run_path(<project dir>)` exactly as Pulumi's Python language host runs a program, on a mock monitor
that records every `RegisterResource` request (type, name, parent, provider, dependencies, and options
such as retainOnDelete, which the plain `Mocks.new_resource` never sees); this module reads those
requests. The mocks echo inputs as outputs, with ids `<name>_id`, and add outputs only by type token (a `RandomPassword`'s `result`: a deterministic function of its name and
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
import hashlib
import importlib.metadata
import json
import logging
import runpy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi.runtime
from google.protobuf import json_format

from devkit.pulumi_internals import Registration, run_recorded
from railzway.admin import sessions as admin_session
from railzway.tenant import password_rules

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT_NAME = "railzway"
GENERATED_BY_PROVIDER = ("random:index/randomPassword:RandomPassword",)
PROVIDER_TYPE_PREFIX = "pulumi:providers:"
# Set-typed properties the provider stores as null when empty: the revoke grant declared with
# `privileges=[]` has `"privileges": null` in the engine's stack view (../shared/engine/up/stack.json).
EMPTY_SETS_STORED_AS_NULL: dict[str, tuple[str, ...]] = {
    "postgresql:index/grant:Grant": ("privileges", "objects", "columns"),
}
# What a provider's CheckConfig adds to its configuration (recorded: postgresql's `connectTimeout`).
PROVIDER_CONFIG_DEFAULTS: dict[str, dict[str, str]] = {"postgresql": {"connectTimeout": "180"}}
# How the engine's wire protocol marks a secret value: `{SIG_KEY: SECRET_SIG, "value": <the value>}`, in
# every language's SDK (`sig.Key` and `sig.Secret` of pulumi/sdk/go/common/resource/sig). The Python SDK's
# helpers for it are internal; tests/test_pulumi_internals.py checks that the SDK still agrees.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a protocol constant, no secret


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


class EchoMocks(pulumi.runtime.Mocks):
    """Outputs as the engine stores them: the inputs, and what a provider computes, by type token.
    (Under `run_program` the type's other output properties are added, null: `run_recorded` does it.)"""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ.startswith(PROVIDER_TYPE_PREFIX):
            return f"{args.name}_id", provider_state(args.typ, args.inputs)
        state = dict(args.inputs)
        for key in EMPTY_SETS_STORED_AS_NULL.get(args.typ, ()):
            if state.get(key) == []:
                state[key] = None
        if args.typ in GENERATED_BY_PROVIDER:
            result = fake_password(args.name, unwrap_secret(args.inputs.get("keepers", {})))
            state["result"] = result
            state["bcryptHash"] = "$2a$10$" + hashlib.sha256(result.encode()).hexdigest()[:53]
        return f"{args.name}_id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


def is_secret_value(value: Any) -> bool:
    """Whether `value` is the wire protocol's secret object."""
    return isinstance(value, Mapping) and value.get(SIG_KEY) == SECRET_SIG


def unwrap_secret(value: Any) -> Any:
    """The value inside the wire protocol's secret object, or `value` when it is not one."""
    return value.get("value") if is_secret_value(value) else value


def provider_state(type_token: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A provider's outputs as the engine stores them: its configuration with every value a string (JSON
    text for numbers and objects), what its CheckConfig adds, and the plugin `version`."""
    package = type_token.removeprefix(PROVIDER_TYPE_PREFIX)
    state: dict[str, Any] = dict(PROVIDER_CONFIG_DEFAULTS.get(package, {}))
    for key, value in inputs.items():
        plain = unwrap_secret(value)
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
    logger = logging.getLogger("devkit.mockrun.engine")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    capture = _Capture()
    logger.handlers = [capture]
    values = {**config, "registryDir": str(registry_dir)}
    program = str(Path(project_dir))

    def run() -> None:
        # As Pulumi's language host does: run the project directory, whose __main__.py is the program.
        runpy.run_path(program, run_name="__main__")

    with admin_session.checked_by(admin_check or _no_server):
        recording = run_recorded(
            run,
            EchoMocks(),
            project=PROJECT_NAME,
            stack=stack,
            preview=preview,
            config={
                f"{PROJECT_NAME}:{key}": value if isinstance(value, str) else json.dumps(value)
                for key, value in values.items()
            },
            secret_keys=[f"{PROJECT_NAME}:{key}" for key in secret_keys],
            logger=logger,
        )

    secrets: set[str] = set()
    outputs = _from_wire(recording.outputs, secrets)
    registered_outputs: dict[str, dict[str, Any]] = {}
    secret_registered_outputs: dict[str, frozenset[str]] = {}
    for urn, struct in recording.registered_outputs.items():
        registered_secrets: set[str] = set()
        registered_outputs[urn] = _from_wire(struct, registered_secrets)
        secret_registered_outputs[urn] = frozenset(registered_secrets)
    return ProgramRun(
        resources=tuple(_recorded(registration) for registration in recording.registrations),
        outputs=outputs,
        secret_outputs=frozenset(secrets),
        registered_outputs=registered_outputs,
        secret_registered_outputs=secret_registered_outputs,
        logs=tuple(capture.records),
        resource_hooks={
            hook.name: {"on_dry_run": bool(hook.on_dry_run), "ignore_errors": bool(hook.ignore_errors)}
            for hook in recording.hooks
        },
        stack_urn=recording.stack_urn,
    )


def _recorded(registration: Registration) -> RecordedResource:
    """A `RegisterResource` request, read as the engine reads it."""
    request = registration.request
    secrets: set[str] = set()
    inputs = _from_wire(request.object, secrets)
    return RecordedResource(
        type=request.type,
        name=request.name,
        urn=registration.urn,
        custom=bool(request.custom),
        parent=request.parent or None,
        provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
        inputs=inputs,
        secret_inputs=frozenset(secrets),
        dependencies=tuple(request.dependencies),
        retain_on_delete=bool(request.retainOnDelete),
        protect=bool(request.protect),
        id=registration.id,
        state=_unwrap(registration.state, "", set(), keep_floats=True),
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
                point: list(getattr(request.hooks, point)) for point in _HOOK_POINTS if getattr(request.hooks, point)
            },
            "propertyDependencies": {key: list(deps.urns) for key, deps in request.propertyDependencies.items()},
        },
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
    if is_secret_value(value):
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
