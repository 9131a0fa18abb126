"""`devkit.pulumi_internals.run_recorded`, the one function that uses the Pulumi SDK's internals.

Two halves. It records what a tiny program sends the engine (real values, read back from the requests);
and every SDK internal it relies on is pinned here by name and signature, so a `pulumi` upgrade that
moves one fails with a message that names it rather than somewhere deep in a mock run.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import pulumi
import pulumi.runtime
import pulumi_random as random
import pytest
from google.protobuf import json_format

from devkit.mockrun import SECRET_SIG, SIG_KEY
from devkit.pulumi_internals import Recording, run_recorded

PULUMI_VERSION = version("pulumi")
STACK_URN = "urn:pulumi:tiny::tiny-project::pulumi:pulumi:Stack::tiny-project-tiny"
BOX_URN = "urn:pulumi:tiny::tiny-project::test:index:Box::box"
PASSWORD_URN = "urn:pulumi:tiny::tiny-project::test:index:Box$random:index/randomPassword:RandomPassword::box-pw"
RANDOM_PASSWORD_OUTPUTS = [
    "bcryptHash",
    "keepers",
    "length",
    "lower",
    "minLower",
    "minNumeric",
    "minSpecial",
    "minUpper",
    "number",
    "numeric",
    "overrideSpecial",
    "result",
    "special",
    "upper",
]


def secret(value: Any) -> dict[str, Any]:
    return {SIG_KEY: SECRET_SIG, "value": value}


class GeneratedResult(pulumi.runtime.Mocks):
    """Echo the inputs, plus the `result` a provider would generate."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        return f"{args.name}-id", {**args.inputs, "result": "generated"}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


class Box(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("test:index:Box", name)
        hook = pulumi.ResourceHook("box-created", lambda args: None, pulumi.ResourceHookOptions(ignore_errors=True))
        self.password = random.RandomPassword(
            f"{name}-pw",
            length=16,
            special=False,
            opts=pulumi.ResourceOptions(
                parent=self, retain_on_delete=True, hooks=pulumi.ResourceHookBinding(after_create=[hook])
            ),
        )
        self.register_outputs({"size": 3, "token": pulumi.Output.secret("s3")})


def tiny_program() -> None:
    config = pulumi.Config()
    Box("box")
    pulumi.log.info("declared the box")
    pulumi.export("greeting", config.require("greeting"))
    pulumi.export("token", config.require_secret("token"))
    pulumi.export("preview", pulumi.runtime.is_dry_run())


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def run_tiny(*, preview: bool = False, handler: logging.Handler | None = None) -> Recording:
    logger = logging.getLogger("tests.pulumi_internals")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.handlers = [handler] if handler else []
    return run_recorded(
        tiny_program,
        GeneratedResult(),
        project="tiny-project",
        stack="tiny",
        preview=preview,
        config={"tiny-project:greeting": "hello", "tiny-project:token": "t0ken"},
        secret_keys=["tiny-project:token"],
        logger=logger,
    )


@pytest.fixture(scope="module")
def tiny() -> Recording:
    return run_tiny()


def by_name(recording: Recording) -> dict[str, Any]:
    return {r.request.name: r for r in recording.registrations}


# --- what it records ---


def test_it_names_urns_as_the_engine_does(tiny: Recording) -> None:
    assert tiny.stack_urn == STACK_URN
    assert {name: r.urn for name, r in by_name(tiny).items()} == {"box": BOX_URN, "box-pw": PASSWORD_URN}


def test_it_records_each_request_with_its_options(tiny: Recording) -> None:
    password = by_name(tiny)["box-pw"].request
    assert (password.type, password.parent, password.custom) == (
        "random:index/randomPassword:RandomPassword",
        BOX_URN,
        True,
    )
    assert password.retainOnDelete is True
    assert list(password.hooks.after_create) == ["box-created"]
    assert json_format.MessageToDict(password.object) == {"length": 16.0, "special": False}
    assert by_name(tiny)["box"].request.custom is False


def test_a_resources_state_holds_every_output_of_its_type(tiny: Recording) -> None:
    password = by_name(tiny)["box-pw"]
    assert password.id == "box-pw-id"
    assert sorted(password.state) == RANDOM_PASSWORD_OUTPUTS
    assert (password.state["result"], password.state["length"], password.state["upper"]) == ("generated", 16, None)


def test_it_records_a_components_registered_outputs_on_the_wire(tiny: Recording) -> None:
    assert json_format.MessageToDict(tiny.registered_outputs[BOX_URN]) == {"size": 3.0, "token": secret("s3")}


def test_it_records_the_stack_outputs_as_registered_with_config_and_secrets(tiny: Recording) -> None:
    assert json_format.MessageToDict(tiny.outputs) == {
        "greeting": "hello",
        "token": secret("t0ken"),
        "preview": False,
    }


def test_it_records_the_resource_hooks(tiny: Recording) -> None:
    assert [(h.name, h.on_dry_run, h.ignore_errors) for h in tiny.hooks] == [("box-created", False, True)]


def test_a_preview_run_is_a_dry_run_and_the_program_logs_to_the_logger() -> None:
    lines = Lines()
    recording = run_tiny(preview=True, handler=lines)
    assert json_format.MessageToDict(recording.outputs)["preview"] is True
    assert lines.lines == ["declared the box"]


def test_a_run_needs_no_event_loop_from_its_caller() -> None:
    asyncio.run(asyncio.sleep(0))  # as an async test leaves the thread: no current event loop
    assert [r.urn for r in run_tiny().registrations] == [BOX_URN, PASSWORD_URN]


def test_runs_are_independent() -> None:
    first, second = run_tiny(), run_tiny()
    assert [r.urn for r in first.registrations] == [r.urn for r in second.registrations]
    assert len(second.registrations) == 2


# --- what it relies on: each internal pinned, by name and signature ---


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_mock_monitor_is_there_with_the_methods_it_overrides() -> None:
    from pulumi.runtime.mocks import MockMonitor

    used = {
        "__init__": ["self", "mocks"],
        "make_urn": ["self", "parent", "type_", "name"],
        "RegisterResource": ["self", "request"],
        "RegisterResourceOutputs": ["self", "request"],
        "RegisterResourceHook": ["self", "request"],
    }
    found = {name: parameters(getattr(MockMonitor, name, lambda: None)) for name in used}
    assert found == used, f"pulumi {PULUMI_VERSION}: MockMonitor's methods changed; run_recorded overrides them"
    assert "state" in MockMonitor.ResourceRegistration._fields, (
        f"pulumi {PULUMI_VERSION}: MockMonitor.resources[urn] has no `state`; run_recorded reads it"
    )
    assert {"mocks", "resources"} <= set(MockMonitor.__annotations__), (
        f"pulumi {PULUMI_VERSION}: MockMonitor no longer keeps `mocks` and `resources`; run_recorded reads them"
    )


@pytest.mark.parametrize(
    ("module", "name", "positional", "keywords"),
    [
        ("pulumi.runtime.stack", "run_pulumi_func", ["func"], []),
        ("pulumi.runtime.stack", "massage", ["attr", "seen"], []),
        ("pulumi.runtime.sync_await", "_sync_await", ["awaitable"], []),
        ("pulumi.runtime.rpc", "serialize_properties", ["inputs", "property_deps"], []),
        ("pulumi.runtime", "set_mocks", ["mocks"], ["project", "stack", "preview", "logger", "monitor"]),
        ("pulumi.runtime", "reset_options", [], ["project", "stack", "preview"]),
        ("pulumi.runtime", "set_all_config", ["config", "secret_keys"], []),
        ("pulumi.runtime", "get_root_resource", [], []),
    ],
)
def test_the_functions_it_calls_are_there_with_the_parameters_it_passes(
    module: str, name: str, positional: list[str], keywords: list[str]
) -> None:
    function = getattr(importlib.import_module(module), name, None)
    assert callable(function), f"pulumi {PULUMI_VERSION}: no {module}.{name}; run_recorded calls it"
    found = parameters(function)
    assert found[: len(positional)] == positional, (
        f"pulumi {PULUMI_VERSION}: {module}.{name} takes {found}; run_recorded passes {positional} in this order"
    )
    assert not set(keywords) - set(found), (
        f"pulumi {PULUMI_VERSION}: {module}.{name} takes {found}; run_recorded passes {keywords} by name"
    )


def test_the_root_stack_keeps_what_the_program_exports() -> None:
    run_tiny()
    exported = getattr(pulumi.runtime.get_root_resource(), "outputs", None)
    assert isinstance(exported, dict) and sorted(exported) == ["greeting", "preview", "token"], (
        f"pulumi {PULUMI_VERSION}: the root stack resource keeps no `outputs` dict; run_recorded reads it"
    )


def test_a_getter_carries_its_wire_name() -> None:
    @pulumi.getter(name="camelCase")
    def snake_case(self: Any) -> Any:
        return None

    assert getattr(snake_case, "_pulumi_name", None) == "camelCase", (
        f"pulumi {PULUMI_VERSION}: pulumi.getter leaves no `_pulumi_name`; run_recorded reads output names from it"
    )


def test_the_sdk_marks_a_secret_with_the_protocols_signature() -> None:
    from pulumi.runtime import rpc

    assert rpc.wrap_rpc_secret("x") == secret("x"), (
        f"pulumi {PULUMI_VERSION}: the SDK's secret signature is not devkit.mockrun's SIG_KEY/SECRET_SIG"
    )


def test_the_requests_carry_the_fields_mockrun_reads() -> None:
    from pulumi.runtime.proto import resource_pb2

    def fields(message: Any) -> set[str]:
        return set(message.DESCRIPTOR.fields_by_name)

    read = {
        "RegisterResourceRequest": {
            "type",
            "name",
            "parent",
            "custom",
            "object",
            "provider",
            "dependencies",
            "retainOnDelete",
            "protect",
            "version",
            "importId",
            "deleteBeforeReplace",
            "ignoreChanges",
            "additionalSecretOutputs",
            "replaceOnChanges",
            "aliases",
            "deletedWith",
            "hooks",
            "propertyDependencies",
        },
        "RegisterResourceOutputsRequest": {"urn", "outputs"},
        "RegisterResourceHookRequest": {"name", "on_dry_run", "ignore_errors"},
    }
    missing = {name: sorted(wanted - fields(getattr(resource_pb2, name))) for name, wanted in read.items()}
    assert not any(missing.values()), f"pulumi {PULUMI_VERSION}: fields gone from the engine's requests: {missing}"
