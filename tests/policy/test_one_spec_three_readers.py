"""A tenant rule is written once: change one rule of `railzway.tenant.spec` and the component's declared
value, the policy pack's verdict and the audit's finding all follow, with no other change.

The rule changed here is a new connection-limit rule: a stopped tenant's database keeps a single connection
(say, for a support session) instead of its tier's limit. Tenant 1004 of the shipped registry is stopped,
on tier starter (limit 10), in eu-west.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from policy_args import from_run
from recorded import violations

from devkit.mockrun import ProgramRun, run_program
from railzway.audit.catalogue import DatabaseRow, RoleRow, ServerInfo, Snapshot
from railzway.audit.expected import ExpectedTenant
from railzway.audit.findings import find
from railzway.guardrails.engine_values import DATABASE_TYPE
from railzway.guardrails.pack import POLICIES
from railzway.guardrails.tier_catalogue import REGISTRY_DIR_CONFIG
from railzway.registry.model import Tier
from railzway.tenant import spec

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED_REGISTRY = PROJECT / "tenants"
POLICY_CONFIG = {REGISTRY_DIR_CONFIG: str(SHIPPED_REGISTRY)}
STOPPED_ORG = 1004
STARTER = Tier(cpu=250, memory_mb=256, connection_limit=10, storage_quota_mb=1024)
SUPPORT_LIMIT = 1


@pytest.fixture
def support_connection_rule(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The one change: `spec.database_connection_limit` gives a stopped tenant's database one connection."""
    tier_rule = spec.database_connection_limit

    def new_rule(status: str, tier_limit: int) -> int:
        return SUPPORT_LIMIT if status == spec.STOPPED else tier_rule(status, tier_limit)

    monkeypatch.setattr(spec, "database_connection_limit", new_rule)
    yield


def dev_run() -> ProgramRun:
    document = yaml.safe_load((PROJECT / "Pulumi.dev.yaml").read_text())
    return run_program(SHIPPED_REGISTRY, {key.split(":", 1)[1]: v for key, v in document["config"].items()})


def declared_limit(run: ProgramRun) -> Any:
    database = run.find(f"org-{STOPPED_ORG}-database")
    assert database is not None and database.type == DATABASE_TYPE
    return database.inputs["connectionLimit"]


def pack_violations(run: ProgramRun, change: Callable[[dict[str, Any]], None] | None = None) -> list[tuple[str, str]]:
    """(policy, message) of every policy of the pack on the run; `change` edits the stopped tenant's database
    in both views first (as a hand-edited program would declare it)."""
    resource_args, stack_args = from_run(run, POLICY_CONFIG)
    if change is not None:
        for args in resource_args:
            if args.name == f"org-{STOPPED_ORG}-database":
                props = dict(args.props)
                change(props)
                args.props = props
        for resource in stack_args.resources:
            if resource.name == f"org-{STOPPED_ORG}-database":
                props = dict(resource.props)
                change(props)
                resource.props = props
    return [(policy, message) for policy, _, message in violations(POLICIES, resource_args, stack_args)]


def audit_codes(database_limit: int) -> set[str]:
    """The audit's finding codes for tenant 1004 on a server whose database has `database_limit`."""
    tenant = ExpectedTenant(
        STOPPED_ORG,
        f"railzway_user_{STOPPED_ORG}",
        f"railzway_org_{STOPPED_ORG}",
        "stopped",
        "eu-west",
        "starter",
        STARTER,
    )
    role = RoleRow(tenant.role, True, 10, None, False, False, frozenset())
    database = DatabaseRow(
        tenant.database,
        tenant.role,
        allow_connections=True,
        connection_limit=database_limit,
        is_template=False,
        encoding="UTF8",
        public_privileges=frozenset(),
        connect_grantees=frozenset(),
    )
    snapshot = Snapshot(
        server=ServerInfo("postgres", True, "15.18", "127.0.0.1:5432"),
        roles={role.name: role},
        databases={database.name: database},
        connectors={database.name: frozenset({role.name})},
        memberships=(),
        statements=7,
    )
    return {f.code for f in find([tenant], {STOPPED_ORG}, snapshot)}


def test_without_the_change_the_three_readers_agree_on_the_tiers_limit() -> None:
    run = dev_run()
    assert declared_limit(run) == STARTER.connection_limit
    assert pack_violations(run) == []
    assert audit_codes(STARTER.connection_limit) == set()
    assert audit_codes(SUPPORT_LIMIT) == {"database-connection-limit"}


@pytest.mark.usefixtures("support_connection_rule")
def test_the_component_declares_the_new_rules_value() -> None:
    assert declared_limit(dev_run()) == SUPPORT_LIMIT


@pytest.mark.usefixtures("support_connection_rule")
def test_the_policy_pack_passes_the_new_value_and_reports_the_old_one() -> None:
    run = dev_run()
    assert pack_violations(run) == []
    old = pack_violations(run, lambda props: props.update(connectionLimit=float(STARTER.connection_limit)))
    assert old == [
        (
            "tenant-connection-limit-by-status",
            f"Database 'org-{STOPPED_ORG}-database' (railzway_org_{STOPPED_ORG}) has connectionLimit=10, but tenant "
            f"{STOPPED_ORG} is stopped on tier 'starter', which sets {SUPPORT_LIMIT}; set connection_limit={SUPPORT_LIMIT}.",
        )
    ]


@pytest.mark.usefixtures("support_connection_rule")
def test_the_audit_accepts_the_new_value_and_reports_the_old_one() -> None:
    assert audit_codes(SUPPORT_LIMIT) == set()
    assert audit_codes(STARTER.connection_limit) == {"database-connection-limit"}
