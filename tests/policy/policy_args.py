"""Builders for the arguments the policy engine hands a validator, and runners that collect its violations.

A plain module (not fixtures) so each test reads as one call: `resource_violations(validator, type, props)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    PolicyProviderResource,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from devkit import mockview
from devkit.mockrun import ProgramRun, RecordedResource
from railzway.guardrails.engine_values import TENANT_INSTANCE_TYPE
from tests.policy import recorded

STACK = "dev"
PROJECT = "railzway"

Violation = tuple[str, str | None]


def urn(resource_type: str, name: str, parent_type: str | None = None) -> str:
    qualified = f"{parent_type}${resource_type}" if parent_type else resource_type
    return f"urn:pulumi:{STACK}::{PROJECT}::{qualified}::{name}"


def component_urn(org_id: int) -> str:
    return urn(TENANT_INSTANCE_TYPE, f"org-{org_id}")


options = recorded.resource_options


def provider(package: str, name: str) -> PolicyProviderResource:
    provider_type = f"pulumi:providers:{package}"
    return PolicyProviderResource(provider_type, {}, urn(provider_type, name), name)


def resource_violations(
    validator: Callable[[ResourceValidationArgs, ReportViolation], None],
    resource_type: str,
    props: Mapping[str, Any],
    name: str = "org-1001-thing",
    parent: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Run a resource validator on one hand-built resource; the messages it reported."""
    violations: list[str] = []

    def report(message: str, urn_: str | None = None) -> None:
        violations.append(message)

    args = ResourceValidationArgs(
        resource_type,
        props,
        urn(resource_type, name, parent_type=TENANT_INSTANCE_TYPE if parent else None),
        name,
        options(parent),
        None,
        config,
    )
    validator(args, report)
    return violations


def stack_violations(
    validator: Callable[[StackValidationArgs, ReportViolation], None],
    resources: list[PolicyResource],
    config: Mapping[str, Any] | None = None,
) -> list[Violation]:
    """Run a stack validator over hand-built resources; (message, urn) per violation."""
    violations: list[Violation] = []

    def report(message: str, urn_: str | None = None) -> None:
        violations.append((message, urn_))

    validator(StackValidationArgs(resources, config), report)
    return violations


def stack_resource(
    resource_type: str,
    name: str,
    props: Mapping[str, Any],
    parent: PolicyResource | None = None,
    provider_resource: PolicyProviderResource | None = None,
) -> PolicyResource:
    parent_type = parent.resource_type if parent is not None else None
    return PolicyResource(
        resource_type,
        props,
        urn(resource_type, name, parent_type),
        name,
        options(parent.urn if parent is not None else None),
        provider_resource,
        parent,
        [],
        {},
    )


def as_sent(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """Properties as the pack's gRPC server hands them to a validator: through a protobuf Struct (numbers
    become doubles) and the SDK's own deserializer and unknown-checking proxy."""
    struct = struct_pb2.Struct()
    struct.update(dict(props))
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))


def from_run(
    run: ProgramRun, config: Mapping[str, Any] | None = None
) -> tuple[list[ResourceValidationArgs], StackValidationArgs]:
    """The arguments the engine would hand the pack for a program run under mocks.

    Resource policies get each resource's inputs (what `Analyze` sees); the stack policy gets the engine's
    representation (`devkit.mockview.stack_view`): every resource's outputs - the revoke grant's
    `privileges` null, a component's registered outputs, numbers as doubles - with parents, providers and
    dependencies linked, as `../shared/engine/up/stack.json` shows it.
    """
    by_urn = {r.urn: r for r in run.resources}

    def provider_of(r: RecordedResource) -> PolicyProviderResource | None:
        if r.provider is None:
            return None
        declared = by_urn.get(r.provider)
        provider_type = declared.type if declared else r.provider.split("::")[2]
        return PolicyProviderResource(
            provider_type, as_sent(declared.state) if declared else {}, r.provider, r.provider.rsplit("::", 1)[-1]
        )

    resource_args = [
        ResourceValidationArgs(r.type, as_sent(r.inputs), r.urn, r.name, options(r.parent), provider_of(r), config)
        for r in run.resources
        if r.custom
    ]
    return resource_args, recorded.stack_args(mockview.stack_view(run), config)
