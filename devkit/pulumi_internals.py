"""The one place the development kit reaches into the Pulumi SDK's internals: `run_recorded`.

Pulumi's public mocks (`pulumi.runtime.set_mocks` with a `Mocks`) answer a program's resource
registrations, but they show neither what the engine would receive (a `RegisterResource` request's
options: retainOnDelete, dependencies, hooks...) nor the stack's outputs as the program registers them.
Getting those needs parts of the SDK that are not its public API:

- `pulumi.runtime.mocks.MockMonitor`: subclassed to keep every request (`RegisterResource`,
  `RegisterResourceOutputs`, `RegisterResourceHook`), to name URNs as the engine does (`make_urn`), and to
  read what the mocks returned for a resource (`resources[urn].state`);
- `pulumi.runtime.stack.run_pulumi_func` and `pulumi.runtime.sync_await._sync_await`: run the program
  as Pulumi's language host does and wait until every registration has been sent;
- the root stack resource's `outputs`, `pulumi.runtime.stack.massage` and
  `pulumi.runtime.rpc.serialize_properties`: the stack outputs serialized as the stack registers them;
- the `_pulumi_name` that `pulumi.getter` leaves on a resource class's property getters: the wire
  (camelCase) names of a type's output properties.

Everything else in `devkit` uses the public API or the engine's wire protocol (the protobuf requests and
the secret signature). `tests/test_pulumi_internals.py` runs this function on a tiny program and pins
every internal above, so a `pulumi` upgrade that moves one fails there, naming it;
`tests/test_architecture.py` checks that no other function, in `devkit` or in the product, touches one.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi.runtime

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class Registration:
    """One `RegisterResource` request of the program, and what the mocks answered."""

    request: Any
    """The request as the engine receives it (`pulumi.runtime.proto.resource_pb2.RegisterResourceRequest`)."""
    urn: str
    id: str
    state: Mapping[str, Any]
    """The outputs the mocks returned, Python values (a secret as the wire's secret object)."""


@dataclass(frozen=True)
class Recording:
    """What a program sent the engine, under mocks."""

    stack_urn: str
    registrations: tuple[Registration, ...]
    """Every resource but the stack, in registration order."""
    registered_outputs: Mapping[str, Any] = field(default_factory=dict)
    """By URN, the outputs a resource registered (`register_outputs`), as the wire's protobuf Struct."""
    hooks: tuple[Any, ...] = ()
    """Every `RegisterResourceHook` request (name, on_dry_run, ignore_errors)."""
    outputs: Any = None
    """The stack outputs (`pulumi.export`) as the stack registers them with the engine: a protobuf Struct."""


_OUTPUT_NAMES: dict[str, tuple[str, ...]] = {}


def run_recorded(
    program: Callable[[], None],
    mocks: pulumi.runtime.Mocks,
    *,
    project: str,
    stack: str,
    preview: bool,
    config: Mapping[str, str],
    secret_keys: Iterable[str],
    logger: logging.Logger,
) -> Recording:
    """Run `program` under `mocks` and record every request it sends the engine.

    A resource's outputs are what `mocks.new_resource` returns over every output property its type's
    Python SDK class declares, null when the mocks give none: what the engine stores for it. `config`
    holds full keys (`project:key`) with string values, `secret_keys` those held as secrets. URNs are
    named as the engine names them: a child of the stack carries no `pulumi:pulumi:Stack$` in its type.
    The runtime is reset first, so runs are independent; one run at a time per process, on the thread's
    event loop (a new one when there is none or it is closed).
    """
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.rpc import serialize_properties
    from pulumi.runtime.stack import massage, run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    def output_names(type_token: str) -> tuple[str, ...]:
        # `postgresql:index/role:Role` -> the getters of `pulumi_postgresql.Role`; none without an SDK class.
        if type_token not in _OUTPUT_NAMES:
            package, _module, name = type_token.split(":", 2)
            try:
                cls = getattr(importlib.import_module(f"pulumi_{package}"), name)
            except (ImportError, AttributeError):
                cls = None
            members = inspect.getmembers(cls, lambda m: isinstance(m, property)) if cls is not None else []
            names = (getattr(member.fget, "_pulumi_name", None) for _, member in members)
            _OUTPUT_NAMES[type_token] = tuple(sorted(str(n) for n in names if n))
        return _OUTPUT_NAMES[type_token]

    class EveryOutput(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
            resource_id, state = mocks.new_resource(args)
            return resource_id, {**dict.fromkeys(output_names(args.typ)), **state}

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
            return mocks.call(args)

    registrations: list[Registration] = []
    registered_outputs: dict[str, Any] = {}
    hooks: list[Any] = []
    stack_urns: list[str] = []

    class Recorder(MockMonitor):
        def make_urn(self, parent: str, type_: str, name: str) -> str:
            if parent and parent.split("::")[2] != STACK_TYPE:
                type_ = parent.split("::")[2] + "$" + type_
            return str(super().make_urn("", type_, name))

        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)
            if request.type == STACK_TYPE:
                stack_urns.append(response.urn)
            else:
                state = self.resources[response.urn].state
                registrations.append(Registration(request, response.urn, response.id, state))
            return response

        def RegisterResourceOutputs(self, request: Any) -> Any:
            registered_outputs[request.urn] = request.outputs
            return super().RegisterResourceOutputs(request)

        def RegisterResourceHook(self, request: Any) -> Any:
            hooks.append(request)
            return super().RegisterResourceHook(request)

    # The SDK makes its futures on the thread's current event loop, from `set_mocks` on; whoever ran
    # asyncio in this thread before (`asyncio.run`, an async test) may have closed it or left none.
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())

    monitor = Recorder(EveryOutput())
    pulumi.runtime.reset_options(project=project, stack=stack, preview=preview)
    pulumi.runtime.set_mocks(
        monitor.mocks, project=project, stack=stack, preview=preview, logger=logger, monitor=monitor
    )
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))

    _sync_await(run_pulumi_func(program))

    root = pulumi.runtime.get_root_resource()
    exported = getattr(root, "outputs", None) or {}
    outputs = _sync_await(serialize_properties(massage(dict(exported), []), {}))
    return Recording(
        stack_urn=stack_urns[-1] if stack_urns else "",
        registrations=tuple(registrations),
        registered_outputs=registered_outputs,
        hooks=tuple(hooks),
        outputs=outputs,
    )
