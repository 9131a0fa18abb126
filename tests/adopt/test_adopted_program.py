"""The program over adopted tenants (under Pulumi's mocks), reading the seed's real Cloud DB.

What the engine will be asked for on the first `up` after `adopt`: import the role and the database by
name and a running tenant's job by `<job>@<namespace>`, keep the Cloud DB's password (never a
`RandomPassword`, whose import id would be the password, stored in clear in the checkpoint), create the
grant and the Nomad variable. Once the sync has encrypted the rows, nothing is imported any more.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from conftest import CliRunner
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy
from seed_fleet import BASE, SeedTenant

from devkit.mockrun import ProgramRun, run_program
from railzway import clouddb
from railzway.clouddb import KeyRing, generate_key, parse_keys
from railzway.guardrails.pack import POLICIES
from railzway.guardrails.tier_catalogue import REGISTRY_DIR_CONFIG
from tests.policy.policy_args import from_run

PROJECT = Path(__file__).resolve().parents[2]
RUNNING, UPGRADING, STOPPED, TERMINATED = BASE + 1, BASE + 2, BASE + 3, BASE + 4


def dev_config() -> dict[str, Any]:
    document = yaml.safe_load((PROJECT / "Pulumi.dev.yaml").read_text())
    return {key.split(":", 1)[1]: value for key, value in document["config"].items()}


@pytest.fixture
def adopted_registry(run_adopt: CliRunner, registry_dir: Path, seed_db: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    run_adopt()
    monkeypatch.setenv("RAILZWAY_CLOUD_DB_URL", seed_db)
    return registry_dir


def passwords(fleet: list[SeedTenant]) -> dict[int, str]:
    return {t.org_id: t.password for t in fleet}


def import_id(run: ProgramRun, name: str) -> str | None:
    value = run.get(name).options["importId"]
    return value if isinstance(value, str) else None


def test_adopted_tenants_import_their_role_database_and_running_job(adopted_registry: Path) -> None:
    run = run_program(adopted_registry, dev_config())
    assert import_id(run, f"org-{RUNNING}-role") == f"railzway_user_{RUNNING}"
    assert import_id(run, f"org-{RUNNING}-database") == f"railzway_org_{RUNNING}"
    assert import_id(run, f"org-{RUNNING}-job") == f"railzway-org-{RUNNING}@default"
    assert import_id(run, f"org-{STOPPED}-job") is None
    assert import_id(run, f"org-{TERMINATED}-role") == f"railzway_user_{TERMINATED}"
    # Created, not imported: the grant revoking PUBLIC and the variable that takes the credentials out of the job.
    assert import_id(run, f"org-{RUNNING}-revoke-public") is None
    assert import_id(run, f"org-{RUNNING}-variable") is None
    # The registry's own tenants are untouched.
    assert import_id(run, "org-1001-role") is None


def test_adopted_tenants_keep_the_cloud_db_password_as_a_secret(
    adopted_registry: Path, seed_fleet: list[SeedTenant]
) -> None:
    run = run_program(adopted_registry, dev_config())
    for org_id in (RUNNING, UPGRADING, STOPPED, TERMINATED):
        assert run.find(f"org-{org_id}-password") is None
        role = run.get(f"org-{org_id}-role")
        assert role.inputs["password"] == passwords(seed_fleet)[org_id]
        assert role.is_secret("password")
        assert run.outputs["tenants"][str(org_id)]["db_password"] == passwords(seed_fleet)[org_id]
        assert run.is_secret_output(f"tenants.{org_id}.db_password")
    assert run.get(f"org-{RUNNING}-variable").inputs["items"]["DB_PASSWORD"] == passwords(seed_fleet)[RUNNING]
    assert run.find("org-1001-password") is not None


def test_no_password_reaches_the_program_logs(adopted_registry: Path, seed_fleet: list[SeedTenant]) -> None:
    run = run_program(adopted_registry, dev_config())
    text = "\n".join(message for _, message in run.logs)
    assert all(t.password not in text for t in seed_fleet)


def test_after_the_sync_encrypts_them_nothing_is_imported_and_the_passwords_stay(
    adopted_registry: Path, seed_db: str, seed_fleet: list[SeedTenant], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_program(adopted_registry, dev_config())
    key = generate_key()
    keys: KeyRing = parse_keys(key)
    with psycopg.connect(seed_db) as conn:
        clouddb.migrate(conn)
        clouddb.sync(conn, first.outputs, keys, stack="dev")
        plain = conn.execute(
            "SELECT org_id FROM instances WHERE org_id = ANY(%s) AND db_password_key_id IS NULL",
            ([RUNNING, UPGRADING, STOPPED, TERMINATED],),
        ).fetchall()
        stored = {row[0] for row in conn.execute("SELECT db_password FROM instances").fetchall()}
    assert plain == []
    assert not stored & {passwords(seed_fleet)[org] for org in (RUNNING, UPGRADING, STOPPED, TERMINATED)}

    monkeypatch.setenv("RAILZWAY_CREDENTIALS_KEYS", key)
    second = run_program(adopted_registry, dev_config())
    assert import_id(second, f"org-{RUNNING}-role") is None
    assert import_id(second, f"org-{RUNNING}-database") is None
    assert import_id(second, f"org-{RUNNING}-job") is None
    assert second.get(f"org-{RUNNING}-role").inputs["password"] == passwords(seed_fleet)[RUNNING]


def test_a_stack_with_adopted_tenants_needs_the_cloud_db(
    adopted_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAILZWAY_CLOUD_DB_URL")
    with pytest.raises(Exception, match="RAILZWAY_CLOUD_DB_URL is not set") as caught:
        run_program(adopted_registry, dev_config())
    assert f"({RUNNING}, {UPGRADING}, {STOPPED}, {TERMINATED})" in str(caught.value)


def test_a_stack_without_adopted_tenants_never_connects(registry_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAILZWAY_CLOUD_DB_URL", "postgresql://nobody@127.0.0.1:1/none")
    run = run_program(registry_dir, dev_config())
    assert len(run.outputs["tenants"]) == 8


def test_the_policy_pack_accepts_adopted_tenants(adopted_registry: Path) -> None:
    run = run_program(adopted_registry, dev_config())
    resource_args, stack_args = from_run(run, {REGISTRY_DIR_CONFIG: str(adopted_registry)})
    found: list[str] = []

    def reporter(policy: str) -> Callable[[str, str | None], None]:
        def report(message: str, urn: str | None = None) -> None:
            found.append(f"{policy}: {message}")

        return report

    for policy in POLICIES:
        if isinstance(policy, ResourceValidationPolicy):
            for args in resource_args:
                policy.validate(args, reporter(policy.name))
        elif isinstance(policy, StackValidationPolicy):
            policy.validate(stack_args, reporter(policy.name))
    assert found == []
