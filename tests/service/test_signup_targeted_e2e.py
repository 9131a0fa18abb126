"""A sign-up through the service's path on the real engine: a targeted `up` of the new tenant only.

The service applies a request with `up --target <the tenant's TenantInstance URN> --target-dependents`
(`railzway.service.updater.Updater.apply`), so a sign-up costs its own resources, not the whole stack's diff
(bench/bench_engine.py measures it). The engine includes a targeted component's children (pulumi/pulumi#7605).

One module-scoped stack of three tenants in a databases-only region, in a `file://` backend. A pending
change of another tenant (a tier change) sits in the registry when the sign-up is applied: the targeted
`up` must leave it for the next full `up`.
"""

from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from devkit.localpg import LocalPostgres
from railzway.engine.stacks import AutomationStacks, StackRef, StackResult, tenant_urn
from railzway.registry import naming
from tests.e2e_support import PROJECT, drop_tenants, local_stack_config, remove_test_stack

pytestmark = [pytest.mark.e2e]

log = logging.getLogger(__name__)
REGION = "us-east"
EXISTING = (986001, 986002, 986003)
SIGNUP = 986004
# A tenant of a databases-only region is five resources: the component, its password, role, database and
# the grant revoking PUBLIC.
RESOURCES_PER_TENANT = 5


def tenant_yaml(org_id: int, tier: str = "starter") -> str:
    return (
        f'org_id: {org_id}\ntier: {tier}\nversion: "1.8.2"\nstatus: running\nregion: {REGION}\nshard: 0\n'
        f"subscription_id: sub_{org_id:012d}\n"
    )


def write_tenant(registry: Path, org_id: int, tier: str = "starter") -> None:
    (registry / "orgs" / f"{org_id}.yaml").write_text(tenant_yaml(org_id, tier), encoding="utf-8")


@dataclass
class SignupStack:
    engine: AutomationStacks
    ref: StackRef
    registry: Path
    signup: StackResult


def role_connection_limit(server: LocalPostgres, org_id: int) -> int:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT rolconnlimit FROM pg_catalog.pg_roles WHERE rolname = %s", (naming.role_name(org_id),)
        ).fetchone()
    assert row is not None, f"role {naming.role_name(org_id)} is missing"
    return int(row[0])


@pytest.fixture(scope="module")
def stack(postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignupStack]:
    work = tmp_path_factory.mktemp("signup-e2e")
    registry = work / "tenants"
    (registry / "orgs").mkdir(parents=True)
    for name in ("tiers.yaml", "regions.yaml"):
        shutil.copy(PROJECT / "tenants" / name, registry / name)
    for org_id in EXISTING:
        write_tenant(registry, org_id)
    backend = work / "backend"
    backend.mkdir()
    env = {
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    engine = AutomationStacks(PROJECT, env_vars=env)
    ref = StackRef(f"e2e-signup-{secrets.token_hex(3)}", shards=(f"{REGION}/0",))
    drop_tenants(postgres, (*EXISTING, SIGNUP))
    try:
        engine.select(ref).set_all_config(local_stack_config(postgres, registry, [REGION]), path=True)
        engine.run(ref, "up", on_output=log.info)
        # A change of another tenant waits in the registry (starter -> growth: connection limit 10 -> 40)...
        write_tenant(registry, EXISTING[0], tier="growth")
        # ...when the sign-up arrives and the service applies it alone.
        write_tenant(registry, SIGNUP)
        signup = engine.run(ref, "up", targets=[tenant_urn(ref.name, SIGNUP)], on_output=log.info)
        yield SignupStack(engine, ref, registry, signup)
    finally:
        try:
            remove_test_stack(engine.select(StackRef(ref.name)))
        finally:
            drop_tenants(postgres, (*EXISTING, SIGNUP))


def test_the_targeted_signup_creates_exactly_the_new_tenants_resources(stack: SignupStack) -> None:
    changes = stack.signup.changes
    assert (changes.creates, changes.updates, changes.deletes, changes.replaces) == (RESOURCES_PER_TENANT, 0, 0, 0)


def test_the_signed_up_tenant_logs_in_to_its_database_with_its_output_password(
    stack: SignupStack, postgres: LocalPostgres
) -> None:
    entry = stack.signup.outputs["tenants"][str(SIGNUP)]
    with psycopg.connect(
        host=postgres.host,
        port=postgres.port,
        user=naming.role_name(SIGNUP),
        password=entry["db_password"],
        dbname=naming.database_name(SIGNUP),
    ) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (naming.role_name(SIGNUP),)


def test_the_targeted_signup_leaves_another_tenants_pending_change_alone(
    stack: SignupStack, postgres: LocalPostgres
) -> None:
    assert role_connection_limit(postgres, EXISTING[0]) == 10


def test_the_next_full_up_applies_the_pending_change_and_then_nothing_is_left(
    stack: SignupStack, postgres: LocalPostgres
) -> None:
    full = stack.engine.run(stack.ref, "up", on_output=log.info)
    assert full.changes.creates == 0 and full.changes.deletes == 0
    assert full.changes.updates >= 1
    assert role_connection_limit(postgres, EXISTING[0]) == 40
    after = stack.engine.run(stack.ref, "preview", on_output=log.info)
    assert (after.changes.creates, after.changes.updates, after.changes.deletes, after.changes.replaces) == (0, 0, 0, 0)
