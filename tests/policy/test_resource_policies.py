"""Each resource validator, called directly: a compliant resource passes, each non-compliant variant
produces exactly the one violation it should."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi.runtime
import pytest
from policy_args import component_urn, resource_violations
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from railzway.guardrails.engine_values import (
    DATABASE_TYPE,
    NOMAD_JOB_TYPE,
    NOMAD_VARIABLE_TYPE,
    RANDOM_PASSWORD_TYPE,
    ROLE_TYPE,
)
from railzway.guardrails.resource_policies import (
    connection_limit_validator,
    password_strength_validator,
    role_privileges_validator,
    tenant_naming_validator,
)
from railzway.guardrails.tier_catalogue import REGISTRY_DIR_CONFIG, REGISTRY_DIR_ENV, registry_dir_for
from railzway.tenant import password_rules, spec

SHIPPED_REGISTRY = Path(__file__).resolve().parents[2] / "tenants"
SHIPPED = {REGISTRY_DIR_CONFIG: str(SHIPPED_REGISTRY)}


def role_props(org_id: int = 1001, **changes: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": f"railzway_user_{org_id}",
        "login": True,
        "password": "secret-from-random",
        "connectionLimit": 40,
        **{wire: False for wire, _column in spec.ROLE_PRIVILEGE_FLAGS.values()},
    }
    props.update(changes)
    return props


def database_props(org_id: int = 1001, **changes: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": f"railzway_org_{org_id}",
        "owner": f"railzway_user_{org_id}",
        "encoding": "UTF8",
        "template": "template0",
        "connectionLimit": 40,
        "allowConnections": True,
    }
    props.update(changes)
    return props


def password_props(**changes: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "length": password_rules.PASSWORD_LENGTH,
        "special": True,
        "overrideSpecial": password_rules.PASSWORD_SPECIALS,
        "keepers": {"rotation": "initial"},
    }
    props.update(changes)
    return props


# --- tenant-role-no-privileges -------------------------------------------------------------------


def test_a_tenant_role_with_every_flag_off_passes() -> None:
    assert resource_violations(role_privileges_validator, ROLE_TYPE, role_props(), parent=component_urn(1001)) == []


@pytest.mark.parametrize(("python_name", "wire_name"), [(p, w) for p, (w, _c) in spec.ROLE_PRIVILEGE_FLAGS.items()])
def test_each_privilege_flag_on_a_tenant_role_is_one_violation(python_name: str, wire_name: str) -> None:
    violations = resource_violations(
        role_privileges_validator, ROLE_TYPE, role_props(**{wire_name: True}), name="org-1001-role"
    )
    assert len(violations) == 1
    assert f"{wire_name}=True" in violations[0]
    assert f"set {python_name}=False" in violations[0]
    assert "'org-1001-role' (railzway_user_1001)" in violations[0]


def test_a_privilege_flag_unknown_during_preview_is_a_violation() -> None:
    props = unknown_checking_proxy(role_props(superuser=UNKNOWN_BOOLEAN_VALUE))
    violations = resource_violations(role_privileges_validator, ROLE_TYPE, props, parent=component_urn(1001))
    assert len(violations) == 1
    assert "superuser is computed from another resource" in violations[0]


def test_a_role_of_a_tenant_component_is_checked_whatever_its_name() -> None:
    violations = resource_violations(
        role_privileges_validator, ROLE_TYPE, role_props(name="admin", createRole=True), parent=component_urn(1001)
    )
    assert len(violations) == 1
    assert "createRole=True" in violations[0]


def test_a_role_that_is_not_a_tenant_role_is_not_judged() -> None:
    props = role_props(name="fleet_admin", superuser=True)
    assert resource_violations(role_privileges_validator, ROLE_TYPE, props, name="fleet-admin") == []


# --- tenant-naming-and-ownership -----------------------------------------------------------------


def test_correctly_named_tenant_objects_pass() -> None:
    parent = component_urn(1001)
    job = {"jobspec": '{"Job": {"ID": "railzway-org-1001"}}', "json": True}
    variable = {"path": "nomad/jobs/railzway-org-1001", "namespace": "default"}
    for resource_type, props in (
        (ROLE_TYPE, role_props()),
        (DATABASE_TYPE, database_props()),
        (NOMAD_VARIABLE_TYPE, variable),
        (NOMAD_JOB_TYPE, job),
    ):
        assert resource_violations(tenant_naming_validator, resource_type, props, parent=parent) == [], resource_type


def test_a_role_named_for_another_org_is_one_violation() -> None:
    violations = resource_violations(
        tenant_naming_validator, ROLE_TYPE, role_props(name="railzway_user_1002"), parent=component_urn(1001)
    )
    assert len(violations) == 1
    assert "belongs to tenant 1001 but is named 'railzway_user_1002'" in violations[0]
    assert "name it 'railzway_user_1001'" in violations[0]


def test_a_database_owned_by_another_role_is_one_violation() -> None:
    violations = resource_violations(
        tenant_naming_validator, DATABASE_TYPE, database_props(owner="postgres"), name="org-1001-database"
    )
    assert len(violations) == 1
    assert "'org-1001-database' (railzway_org_1001) is owned by 'postgres'" in violations[0]
    assert "set owner='railzway_user_1001'" in violations[0]


def test_a_database_owned_by_the_neighbours_role_is_one_violation() -> None:
    props = database_props(owner="railzway_user_1002")
    violations = resource_violations(tenant_naming_validator, DATABASE_TYPE, props, parent=component_urn(1001))
    assert len(violations) == 1
    assert "owned by 'railzway_user_1002'" in violations[0]


def test_a_database_of_a_component_named_off_scheme_is_one_violation() -> None:
    props = database_props(name="acme")
    violations = resource_violations(tenant_naming_validator, DATABASE_TYPE, props, parent=component_urn(1001))
    assert len(violations) == 1
    assert "name it 'railzway_org_1001'" in violations[0]


def test_a_variable_at_another_path_is_one_violation() -> None:
    props = {"path": "railzway/org-1001", "namespace": "default"}
    violations = resource_violations(tenant_naming_validator, NOMAD_VARIABLE_TYPE, props, parent=component_urn(1001))
    assert len(violations) == 1
    assert "name it 'nomad/jobs/railzway-org-1001'" in violations[0]


def test_a_job_with_another_id_is_one_violation() -> None:
    props = {"jobspec": '{"Job": {"ID": "railzway-1001"}}', "json": True}
    violations = resource_violations(tenant_naming_validator, NOMAD_JOB_TYPE, props, parent=component_urn(1001))
    assert len(violations) == 1
    assert "is named 'railzway-1001'" in violations[0]
    assert "name it 'railzway-org-1001'" in violations[0]


def test_an_owner_unknown_during_preview_is_left_for_the_update() -> None:
    props = unknown_checking_proxy(database_props(owner=UNKNOWN_STRING_VALUE))
    assert resource_violations(tenant_naming_validator, DATABASE_TYPE, props, parent=component_urn(1001)) == []


def test_objects_outside_the_tenant_scheme_are_not_judged() -> None:
    props = database_props(name="analytics", owner="postgres")
    assert resource_violations(tenant_naming_validator, DATABASE_TYPE, props, name="analytics") == []


# --- tenant-connection-limit ---------------------------------------------------------------------


def test_connection_limits_of_the_tenants_tier_pass() -> None:
    growth = resource_violations(connection_limit_validator, ROLE_TYPE, role_props(1001), config=SHIPPED)
    starter = resource_violations(
        connection_limit_validator, DATABASE_TYPE, database_props(1002, connectionLimit=10), config=SHIPPED
    )
    assert (growth, starter) == ([], [])


def test_a_role_without_a_connection_limit_is_one_violation() -> None:
    props = role_props()
    del props["connectionLimit"]
    violations = resource_violations(connection_limit_validator, ROLE_TYPE, props, name="org-1001-role", config=SHIPPED)
    assert violations == [
        "Role 'org-1001-role' (railzway_user_1001) has no connection limit (connectionLimit=-1): one tenant could "
        "take every connection of the server; set connection_limit to its tenant's (0, 10, 40)."
    ]


def test_an_unlimited_database_is_one_violation() -> None:
    props = database_props(1002, connectionLimit=-1)
    violations = resource_violations(connection_limit_validator, DATABASE_TYPE, props, config=SHIPPED)
    assert len(violations) == 1
    assert "has no connection limit (connectionLimit=-1)" in violations[0]


def test_a_limit_of_zero_is_a_terminated_tenants_and_left_to_the_stack_policy() -> None:
    # Whose limit it is (the tenant's status and tier) only the stack view shows: see
    # test_connection_limit_by_status.py (the stack policy tenant-connection-limit-by-status).
    props = database_props(1001, connectionLimit=0)
    assert resource_violations(connection_limit_validator, DATABASE_TYPE, props, config=SHIPPED) == []


def test_a_limit_no_tier_gives_is_one_violation() -> None:
    violations = resource_violations(
        connection_limit_validator, ROLE_TYPE, role_props(9999, connectionLimit=7), config=SHIPPED
    )
    assert violations == [
        "Role 'org-1001-thing' (railzway_user_9999) has connectionLimit=7, which no tier in the catalogue gives a "
        "tenant; set connection_limit to its tenant's (0, 10, 40)."
    ]


def test_only_the_tier_catalogue_is_read(registry_dir: Path) -> None:
    # A broken tenant file does not stop a policy that needs the tiers only.
    (registry_dir / "orgs" / "1001.yaml").write_text("org_id: [not, a, number]\n")
    assert (
        resource_violations(
            connection_limit_validator, ROLE_TYPE, role_props(1001), config={REGISTRY_DIR_CONFIG: str(registry_dir)}
        )
        == []
    )


def test_the_catalogue_comes_from_the_environment_when_the_policy_has_no_config(
    registry_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiers = registry_dir / "tiers.yaml"
    tiers.write_text(tiers.read_text().replace("connection_limit: 40", "connection_limit: 50"))
    monkeypatch.setenv(REGISTRY_DIR_ENV, str(registry_dir))
    assert resource_violations(connection_limit_validator, ROLE_TYPE, role_props(1001, connectionLimit=50)) == []
    assert len(resource_violations(connection_limit_validator, ROLE_TYPE, role_props(1001, connectionLimit=40))) == 1


def test_the_policy_config_wins_over_the_environment(registry_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REGISTRY_DIR_ENV, str(registry_dir / "nowhere"))
    assert resource_violations(connection_limit_validator, ROLE_TYPE, role_props(1001), config=SHIPPED) == []


def test_the_stacks_own_registry_dir_is_used_when_neither_config_nor_environment_names_one(
    registry_dir: Path,
) -> None:
    tiers = registry_dir / "tiers.yaml"
    tiers.write_text(tiers.read_text().replace("connection_limit: 40", "connection_limit: 50"))
    # The engine hands a policy pack the stack's configuration, as it hands it the program.
    pulumi.runtime.set_config("railzway:registryDir", str(registry_dir))
    assert registry_dir_for() == registry_dir
    assert resource_violations(connection_limit_validator, ROLE_TYPE, role_props(1001, connectionLimit=50)) == []


def test_an_invalid_registry_is_one_violation_naming_it(registry_dir: Path) -> None:
    (registry_dir / "tiers.yaml").write_text("tiers: {}\n")
    violations = resource_violations(
        connection_limit_validator, ROLE_TYPE, role_props(), config={REGISTRY_DIR_CONFIG: str(registry_dir)}
    )
    assert len(violations) == 1
    assert f"the registry at {registry_dir} is invalid" in violations[0]
    assert "tiers.yaml" in violations[0]


def test_a_relative_registry_dir_is_taken_from_the_project_root() -> None:
    assert registry_dir_for({REGISTRY_DIR_CONFIG: "tenants"}) == SHIPPED_REGISTRY
    assert registry_dir_for({}) == SHIPPED_REGISTRY


def test_numbers_as_the_engine_sends_them_are_read_as_integers() -> None:
    # Property values reach the pack as protobuf doubles: 40 arrives as 40.0.
    props = role_props(1001, connectionLimit=40.0)
    assert resource_violations(connection_limit_validator, ROLE_TYPE, props, config=SHIPPED) == []


# --- generated-password-strength -----------------------------------------------------------------


def test_a_32_character_url_safe_password_passes() -> None:
    assert resource_violations(password_strength_validator, RANDOM_PASSWORD_TYPE, password_props()) == []


def test_a_length_sent_as_a_double_passes() -> None:
    props = password_props(length=float(password_rules.PASSWORD_LENGTH))
    assert resource_violations(password_strength_validator, RANDOM_PASSWORD_TYPE, props) == []


def test_a_password_without_specials_passes() -> None:
    props = password_props(special=False, overrideSpecial=None)
    assert resource_violations(password_strength_validator, RANDOM_PASSWORD_TYPE, props) == []


def test_a_short_password_is_one_violation() -> None:
    violations = resource_violations(
        password_strength_validator, RANDOM_PASSWORD_TYPE, password_props(length=16), name="org-1001-password"
    )
    assert len(violations) == 1
    assert "RandomPassword 'org-1001-password' has length=16" in violations[0]
    assert "set length=32" in violations[0]


def test_the_providers_default_specials_are_one_violation() -> None:
    props = password_props()
    del props["overrideSpecial"]
    violations = resource_violations(password_strength_validator, RANDOM_PASSWORD_TYPE, props)
    assert len(violations) == 1
    assert "not safe in a URL or a shell word" in violations[0]
    assert "set override_special='-_'" in violations[0]


def test_an_unsafe_override_special_names_the_characters() -> None:
    props = password_props(overrideSpecial="-_@:/")
    violations = resource_violations(password_strength_validator, RANDOM_PASSWORD_TYPE, props)
    assert len(violations) == 1
    assert "may draw '/:@'" in violations[0]


def test_other_resources_are_ignored_by_every_resource_validator() -> None:
    props = {"name": "railzway_user_1001", "superuser": True, "length": 1, "connectionLimit": -1}
    for validator in (role_privileges_validator, tenant_naming_validator, password_strength_validator):
        assert resource_violations(validator, "postgresql:index/schema:Schema", props) == []
    assert (
        resource_violations(connection_limit_validator, "postgresql:index/schema:Schema", props, config=SHIPPED) == []
    )
