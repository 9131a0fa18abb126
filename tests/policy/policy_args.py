"""Builders for the arguments the policy engine hands a validator, and runners that collect its violations.

A plain module (not fixtures) so each test reads as one call: `resource_violations(validator, type, props)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from railzway.policies import TENANT_INSTANCE_TYPE

STACK = "dev"
PROJECT = "railzway"

Violation = tuple[str, str | None]


def urn(resource_type: str, name: str, parent_type: str | None = None) -> str:
    qualified = f"{parent_type}${resource_type}" if parent_type else resource_type
    return f"urn:pulumi:{STACK}::{PROJECT}::{qualified}::{name}"


def component_urn(org_id: int) -> str:
    return urn(TENANT_INSTANCE_TYPE, f"org-{org_id}")


def options(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )


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
