"""The audit's pure parts, without a server: the tier in force, password masking, the findings rules on
hand-built snapshots, the Prometheus text, and the login matrix's plan."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from railzway.audit.catalogue import PRIVILEGE_COLUMNS, DatabaseRow, RoleRow, ServerInfo, Snapshot
from railzway.audit.connection import scrub
from railzway.audit.errors import CannotRun
from railzway.audit.expected import ExpectedTenant, expected_tenants, tier_in_force
from railzway.audit.findings import ROLE_FLAG_TEXT, find
from railzway.audit.login_matrix import plan
from railzway.audit.usage import TenantUsage, to_prometheus
from railzway.registry.loader import load_registry
from railzway.registry.model import Tier

STARTER = Tier(cpu=250, memory_mb=256, connection_limit=5, storage_quota_mb=64)


def tenant(org_id: int, status: str = "running", region: str = "eu-west") -> ExpectedTenant:
    return ExpectedTenant(
        org_id, f"railzway_user_{org_id}", f"railzway_org_{org_id}", status, region, "starter", STARTER
    )


def role(name: str, **changes: object) -> RoleRow:
    values: dict[str, object] = dict(
        name=name,
        can_login=True,
        connection_limit=5,
        valid_until=None,
        password_expired=False,
        superuser=False,
        privileges=frozenset(),
    )
    values.update(changes)
    return RoleRow(**values)  # type: ignore[arg-type]


def database(org_id: int, **changes: object) -> DatabaseRow:
    values: dict[str, object] = dict(
        name=f"railzway_org_{org_id}",
        owner=f"railzway_user_{org_id}",
        allow_connections=True,
        connection_limit=5,
        is_template=False,
        encoding="UTF8",
        public_privileges=frozenset(),
        connect_grantees=frozenset(),
    )
    values.update(changes)
    return DatabaseRow(**values)  # type: ignore[arg-type]


def snapshot(*org_ids: int, roles: tuple[RoleRow, ...] = (), databases: tuple[DatabaseRow, ...] = ()) -> Snapshot:
    all_roles = {f"railzway_user_{o}": role(f"railzway_user_{o}") for o in org_ids} | {r.name: r for r in roles}
    all_dbs = {f"railzway_org_{o}": database(o) for o in org_ids} | {d.name: d for d in databases}
    return Snapshot(
        server=ServerInfo("postgres", True, "15.18", "127.0.0.1:5432"),
        roles=all_roles,
        databases=all_dbs,
        connectors={name: frozenset({f"railzway_user_{name.rsplit('_', 1)[1]}"}) for name in all_dbs},
        memberships=(),
        statements=7,
    )


def test_a_scheduled_downgrade_applies_from_its_date_not_before(registry_dir: Path) -> None:
    registry = load_registry(registry_dir)
    org = registry.tenants[1003]  # growth, downgrade to starter at 2026-12-31
    assert org.downgrade is not None
    day = org.downgrade.at
    assert tier_in_force(org, day - dt.timedelta(days=1)) == "growth"
    assert tier_in_force(org, day) == "starter"
    assert tier_in_force(org, day + dt.timedelta(days=400)) == "starter"


def test_expected_tenants_of_a_region_are_only_that_regions(registry_dir: Path) -> None:
    registry = load_registry(registry_dir)
    chosen = expected_tenants(registry, "us-east", dt.date(2026, 1, 1))
    assert [t.org_id for t in chosen] == [2001, 2002, 2003]
    assert chosen[0].role == "railzway_user_2001"


def test_an_unknown_region_cannot_be_audited(registry_dir: Path) -> None:
    registry = load_registry(registry_dir)
    with pytest.raises(CannotRun, match="unknown region 'ap-south'"):
        expected_tenants(registry, "ap-south", dt.date(2026, 1, 1))


@pytest.mark.parametrize(
    ("url", "message", "expected"),
    [
        ("postgresql://admin:s3cr%2Ft@db:5432/postgres", "bad s3cr/t and s3cr%2Ft", "bad *** and ***"),
        ("host=db user=admin password=hunter2", "conninfo host=db password=hunter2", "conninfo host=db password=***"),
        (
            "postgres://admin:Zz%ZZ@db/x",
            'invalid percent-encoded token: "Zz%ZZ"',
            'invalid percent-encoded token: "***"',
        ),
        ("postgresql://admin@db/x", "echo postgresql://u:pw@h/x", "echo postgresql://u:***@h/x"),
    ],
)
def test_scrub_masks_the_password_in_every_spelling(url: str, message: str, expected: str) -> None:
    assert scrub(message, url) == expected


def test_every_shared_role_flag_has_a_description_and_a_fix() -> None:
    assert set(ROLE_FLAG_TEXT) == set(PRIVILEGE_COLUMNS)
    assert all(keyword.startswith("NO") for _, keyword in ROLE_FLAG_TEXT.values())


def test_a_clean_snapshot_gives_no_finding() -> None:
    assert find([tenant(1), tenant(2)], {1, 2}, snapshot(1, 2)) == []


def test_objects_of_known_tenants_outside_the_audited_region_are_not_orphans() -> None:
    assert find([tenant(1)], {1, 2}, snapshot(1, 2)) == []


def test_a_database_name_no_org_id_can_be_read_from_is_a_warning_without_org() -> None:
    odd = database(1, name="railzway_org_007", owner="postgres")
    found = find([], set(), snapshot(roles=(), databases=(odd,)))
    assert [(f.severity, f.code, f.org_id) for f in found] == [("warning", "unrecognised-database-name", None)]


def test_findings_come_before_warnings_then_by_org() -> None:
    snap = snapshot(
        1,
        2,
        roles=(
            role("railzway_user_2", connection_limit=9),
            role("railzway_user_1", superuser=True, privileges=frozenset({"rolsuper"})),
        ),
    )
    found = find([tenant(2), tenant(1)], {1, 2}, snap)
    assert [(f.severity, f.org_id, f.code) for f in found] == [
        ("finding", 1, "role-privileged"),
        ("warning", 2, "role-connection-limit"),
    ]


def test_prometheus_label_values_are_escaped() -> None:
    row = TenantUsage(1, 'we"st\\', "starter", "running", "railzway_org_1", 10, 64, 0, 5)
    assert 'railzway_tenant_database_size_bytes{org_id="1",region="we\\"st\\\\",tier="starter"} 10' in (
        to_prometheus([row]).splitlines()
    )


def test_the_login_plan_tries_each_tenant_at_home_and_in_sample_other_databases() -> None:
    tenants = [tenant(o) for o in (1, 2, 3, 4)] + [tenant(5, "terminated")]
    attempts = plan(tenants, {1: "a", 2: "b", 5: "e"}, 2, random.Random(7))
    by_role: dict[int, list[tuple[int, str]]] = {}
    for a in attempts:
        by_role.setdefault(a.tenant.org_id, []).append((a.target_org, a.expect))
    assert sorted(by_role) == [1, 2, 5]
    assert by_role[1][0] == (1, "accept") and by_role[5][0] == (5, "refuse")
    for org, targets in by_role.items():
        foreign = targets[1:]
        assert len(foreign) == 2 and all(t != org and e == "refuse" for t, e in foreign)


def test_a_terminated_tenants_database_refusing_every_connection_is_a_warning_to_let_the_admin_back_in() -> None:
    # ALLOW_CONNECTIONS false (what the audit once advised) locks out the admin and the provider too.
    closed = role("railzway_user_4", can_login=False, connection_limit=0, password_expired=True)
    shut = database(4, allow_connections=False, connection_limit=0)
    findings = find([tenant(4, "terminated")], {4}, snapshot(4, roles=(closed,), databases=(shut,)))
    assert [(f.severity, f.code, f.fix) for f in findings] == [
        (
            "warning",
            "database-refuses-connections",
            'ALTER DATABASE "railzway_org_4" ALLOW_CONNECTIONS true; or run `pulumi up` on the stack that holds the tenant',
        )
    ]
