"""Registry changes under mocks: each declares exactly the difference it should, and nothing more."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from devkit.mockrun import ProgramRun

RunChanged = Callable[..., ProgramRun]


def differences(before: ProgramRun, after: ProgramRun) -> set[str]:
    """`+name` / `-name` for declared / dropped resources, `name.input` for changed inputs."""
    old = {r.name: r.inputs for r in before.resources}
    new = {r.name: r.inputs for r in after.resources}
    found = {f"+{name}" for name in new.keys() - old.keys()} | {f"-{name}" for name in old.keys() - new.keys()}
    for name in old.keys() & new.keys():
        for key in old[name].keys() | new[name].keys():
            if old[name].get(key) != new[name].get(key):
                found.add(f"{name}.{key}")
    return found


def output_differences(before: ProgramRun, after: ProgramRun) -> set[str]:
    old, new = before.outputs["tenants"], after.outputs["tenants"]
    found = {f"+{k}" for k in new.keys() - old.keys()} | {f"-{k}" for k in old.keys() - new.keys()}
    for org in old.keys() & new.keys():
        found |= {f"{org}.{key}" for key in old[org] if old[org][key] != new[org].get(key)}
    return found


def stop_of(run: ProgramRun, org_id: int) -> bool:
    document = json.loads(run.get(f"org-{org_id}-job").inputs["jobspec"])
    stop = document["Job"]["Stop"]
    assert isinstance(stop, bool)
    return stop


# --- rotation ---------------------------------------------------------------------------------------


def test_rotation_changes_only_that_tenants_password(dev_run: ProgramRun, run_changed: RunChanged) -> None:
    rotated = run_changed({1002: {"password_rotation": "2026-11-30"}})
    assert differences(dev_run, rotated) == {
        "org-1002-password.keepers",
        "org-1002-role.password",
        "org-1002-variable.items",
    }
    assert output_differences(dev_run, rotated) == {"1002.db_password", "1002.database_url"}


def test_rotation_gives_a_different_valid_password(dev_run: ProgramRun, run_changed: RunChanged) -> None:
    rotated = run_changed({1002: {"password_rotation": "2026-11-30"}})
    before = dev_run.get("org-1002-role").inputs["password"]
    after = rotated.get("org-1002-role").inputs["password"]
    assert before != after
    assert rotated.get("org-1002-variable").inputs["items"]["DB_PASSWORD"] == after


def test_rotation_does_not_touch_the_job_so_nomad_restarts_through_the_template(
    dev_run: ProgramRun, run_changed: RunChanged
) -> None:
    rotated = run_changed({1002: {"password_rotation": "2026-11-30"}})
    assert rotated.get("org-1002-job").inputs == dev_run.get("org-1002-job").inputs


def test_a_second_run_of_the_same_registry_declares_the_same_thing(
    dev_run: ProgramRun, run_changed: RunChanged
) -> None:
    again = run_changed({})
    assert differences(dev_run, again) == set()
    assert again.outputs == dev_run.outputs


# --- versions and tiers -----------------------------------------------------------------------------


def test_upgrade_changes_only_the_jobspec(dev_run: ProgramRun, run_changed: RunChanged) -> None:
    upgraded = run_changed({1001: {"version": "1.9.0"}})
    # The component's own `version` input too: it updates the component, whose hooks rewrite the Cloud DB row.
    assert differences(dev_run, upgraded) == {"org-1001-job.jobspec", "org-1001.version"}
    task = json.loads(upgraded.get("org-1001-job").inputs["jobspec"])["Job"]["TaskGroups"][0]["Tasks"][0]
    assert task["Config"]["image"] == "ghcr.io/smallbiznis/railzway:1.9.0"
    assert output_differences(dev_run, upgraded) == {"1001.version"}


def test_tier_change_resizes_the_job_and_the_connection_limits(dev_run: ProgramRun, run_changed: RunChanged) -> None:
    downgraded = run_changed({1003: {"tier": "starter", "downgrade": None}})
    assert differences(dev_run, downgraded) == {
        "org-1003.tier",
        "org-1003-role.connectionLimit",
        "org-1003-database.connectionLimit",
        "org-1003-job.jobspec",
    }
    assert downgraded.get("org-1003-role").inputs["connectionLimit"] == 10
    task = json.loads(downgraded.get("org-1003-job").inputs["jobspec"])["Job"]["TaskGroups"][0]["Tasks"][0]
    assert task["Resources"] == {"CPU": 250, "MemoryMB": 256}


# --- stopped ----------------------------------------------------------------------------------------


def test_stopped_tenant_keeps_a_stopped_job(dev_run: ProgramRun) -> None:
    assert stop_of(dev_run, 1004) is True
    assert dev_run.outputs["tenants"]["1004"]["nomad_job_id"] == "railzway-org-1004"


def test_stopped_tenant_keeps_its_logins_and_variable(dev_run: ProgramRun) -> None:
    assert dev_run.get("org-1004-role").inputs["login"] is True
    assert dev_run.get("org-1004-database").inputs["allowConnections"] is True
    assert dev_run.find("org-1004-variable") is not None


def test_stopping_changes_only_the_jobs_stop_flag(dev_run: ProgramRun, run_changed: RunChanged) -> None:
    stopped = run_changed({1001: {"status": "stopped"}})
    assert differences(dev_run, stopped) == {"org-1001-job.jobspec", "org-1001.status"}
    assert stop_of(stopped, 1001) is True and stop_of(dev_run, 1001) is False


# --- terminated -------------------------------------------------------------------------------------


def test_terminated_tenant_has_no_job_and_no_variable(dev_run: ProgramRun) -> None:
    assert dev_run.find("org-1005-job") is None and dev_run.find("org-1005-variable") is None
    assert dev_run.outputs["tenants"]["1005"]["nomad_job_id"] is None


def test_terminated_tenant_keeps_its_data_but_cannot_log_in(dev_run: ProgramRun) -> None:
    role = dev_run.get("org-1005-role")
    assert role.inputs["login"] is False
    assert role.retain_on_delete and dev_run.get("org-1005-database").retain_on_delete
    assert dev_run.find("org-1005-revoke-public") is not None


def test_terminated_tenants_database_stays_reachable_by_the_admin(dev_run: ProgramRun) -> None:
    # ALLOW_CONNECTIONS false would lock out the provider too, which must connect to manage the grant.
    assert dev_run.get("org-1005-database").inputs["allowConnections"] is True


def test_terminated_tenants_database_takes_no_connections(dev_run: ProgramRun) -> None:
    # A limit of 0 refuses every role but superusers (the admin).
    assert dev_run.get("org-1005-database").inputs["connectionLimit"] == 0


def test_terminated_tenants_role_has_no_way_back_in(dev_run: ProgramRun) -> None:
    # Issue 13: no login, a password expired for ever (should LOGIN come back) and no connection slot.
    role = dev_run.get("org-1005-role").inputs
    assert (role["login"], role["validUntil"], role["connectionLimit"]) == (False, "-infinity", 0)


def test_a_running_tenants_password_never_expires(dev_run: ProgramRun) -> None:
    assert dev_run.get("org-1001-role").inputs["validUntil"] == "infinity"


def test_only_a_terminated_tenants_role_ends_its_sessions_after_an_update(dev_run: ProgramRun) -> None:
    hooks = {r.name: r.options["hooks"] for r in dev_run.of_type("postgresql:index/role:Role")}
    assert hooks.pop("org-1005-role") == {"after_update": ["railzway-end-terminated-sessions-eu-west"]}
    assert hooks.pop("org-2003-role") == {"after_update": ["railzway-end-terminated-sessions-us-east"]}
    assert set(map(str, hooks.values())) == {"{}"}


def test_terminating_deregisters_the_job_and_disables_the_login(dev_run: ProgramRun, run_changed: RunChanged) -> None:
    terminated = run_changed({1001: {"status": "terminated"}})
    assert differences(dev_run, terminated) == {
        "-org-1001-job",
        "-org-1001-variable",
        "org-1001-role.login",
        "org-1001-role.validUntil",
        "org-1001-role.connectionLimit",
        "org-1001-database.connectionLimit",
        "org-1001.status",
    }
    assert output_differences(dev_run, terminated) == {"1001.status", "1001.nomad_job_id"}


# --- region without Nomad ---------------------------------------------------------------------------


def test_region_without_nomad_gets_databases_only(dev_run: ProgramRun) -> None:
    component = dev_run.get("org-2001")
    assert {c.name for c in dev_run.children_of(component.urn)} == {
        "org-2001-password",
        "org-2001-role",
        "org-2001-database",
        "org-2001-revoke-public",
    }
    assert component.inputs["hasNomad"] is False
    assert dev_run.outputs["tenants"]["2001"]["nomad_job_id"] is None


def test_region_without_nomad_gets_no_nomad_provider(dev_run: ProgramRun) -> None:
    assert [r.name for r in dev_run.of_type("pulumi:providers:nomad")] == ["nomad-eu-west"]


def test_giving_a_region_nomad_adds_jobs_for_its_live_tenants(
    run_changed: RunChanged, dev_run: ProgramRun, dev_config: dict[str, Any]
) -> None:
    config = dev_config
    config["regions"]["us-east"]["nomad"] = {"address": "http://10.1.0.1:4646", "region": "us", "datacenters": ["va1"]}
    with_nomad = run_changed({}, config)
    assert differences(dev_run, with_nomad) == {
        "+nomad-us-east",
        "+backup-us-east",
        "+backup-us-east-job",
        "+org-2001-variable",
        "+org-2001-job",
        "+org-2002-variable",
        "+org-2002-job",
        "org-2001.hasNomad",
        "org-2002.hasNomad",
        "org-2003.hasNomad",
    }
    job = json.loads(with_nomad.get("org-2001-job").inputs["jobspec"])["Job"]
    assert (job["Region"], job["Datacenters"]) == ("us", ["va1"])
    assert with_nomad.get("org-2001-job").provider == with_nomad.get("nomad-us-east").urn


# --- a tenant removed from the registry -------------------------------------------------------------


def test_removed_tenant_is_no_longer_declared(dev_run: ProgramRun, run_changed: RunChanged) -> None:
    removed = run_changed({1002: None})
    gone = {f"-{r.name}" for r in dev_run.resources if r.name == "org-1002" or r.name.startswith("org-1002-")}
    assert len(gone) == 7
    assert differences(dev_run, removed) == gone
    assert output_differences(dev_run, removed) == {"-1002"}


def test_removed_tenants_data_was_declared_retain_on_delete(dev_run: ProgramRun) -> None:
    # When the engine deletes what the program no longer declares, it forgets these two and leaves the
    # role and database (the customer's data) on the server.
    assert dev_run.get("org-1002-role").retain_on_delete
    assert dev_run.get("org-1002-database").retain_on_delete


# --- shard stacks -----------------------------------------------------------------------------------


def test_shard_stack_declares_only_its_tenants_and_regions(run_changed: RunChanged, dev_config: dict[str, Any]) -> None:
    config = {**dev_config, "shards": ["us-east/0"]}
    shard = run_changed({}, config)
    assert sorted(shard.outputs["tenants"]) == ["2001", "2002", "2003"]
    providers = sorted(r.name for r in shard.resources if r.type.startswith("pulumi:providers:"))
    assert providers == ["postgresql-us-east"]


def test_shard_stack_needs_no_endpoints_for_other_regions(run_changed: RunChanged, dev_config: dict[str, Any]) -> None:
    config = {"shards": ["eu-west/1"], "regions": {"eu-west": dev_config["regions"]["eu-west"]}}
    shard = run_changed({}, config)
    assert sorted(shard.outputs["tenants"]) == ["1003", "1004"]


# --- invalid input stops the program cleanly --------------------------------------------------------


def test_invalid_registry_stops_with_the_validators_message(run_changed: RunChanged) -> None:
    with pytest.raises(pulumi.RunError) as caught:
        run_changed({1001: {"tier": "platinum"}})
    message = str(caught.value)
    assert message.startswith("the tenants registry is invalid:")
    assert "orgs/1001.yaml" in message and "tier: unknown tier 'platinum'" in message


def test_invalid_configuration_stops_naming_the_key(run_changed: RunChanged) -> None:
    config: dict[str, Any] = {"regions": {"eu-west": {"postgres": {"host": "h", "sslmode": "off"}}}}
    with pytest.raises(pulumi.RunError, match=r"railzway:regions\.eu-west\.postgres\.sslmode"):
        run_changed({}, config)


def test_missing_region_endpoints_stop_naming_the_key(run_changed: RunChanged, dev_config: dict[str, Any]) -> None:
    config = {"regions": {"eu-west": dev_config["regions"]["eu-west"]}}
    with pytest.raises(pulumi.RunError, match=r"railzway:regions\.us-east is not configured"):
        run_changed({}, config)


# --- admin credentials ------------------------------------------------------------------------------


def test_configured_admin_credentials_reach_the_providers_as_secrets(
    run_changed: RunChanged, dev_config: dict[str, Any]
) -> None:
    dev_config["regions"]["eu-west"]["postgres"]["password"] = "pg-admin-pass"
    dev_config["regions"]["eu-west"]["nomad"]["token"] = "nomad-admin-token"
    run = run_changed({}, dev_config)
    postgres, nomad = run.get("postgresql-eu-west"), run.get("nomad-eu-west")
    assert postgres.inputs["password"] == "pg-admin-pass" and postgres.is_secret("password")
    assert nomad.inputs["secretId"] == "nomad-admin-token" and nomad.is_secret("secretId")
    assert "password" not in run.get("postgresql-us-east").inputs


def test_port_set_through_a_config_path_as_text_is_accepted(
    run_changed: RunChanged, dev_config: dict[str, Any]
) -> None:
    dev_config["regions"]["us-east"]["postgres"]["port"] = "6543"
    run = run_changed({}, dev_config)
    assert run.outputs["tenants"]["2001"]["db_port"] == 6543
    entry = run.outputs["tenants"]["2001"]
    assert entry["database_url"].startswith(f"postgres://railzway_user_2001:{entry['db_password']}@127.0.0.1:6543/")
