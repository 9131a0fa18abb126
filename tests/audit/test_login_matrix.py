"""`railzway audit --login-matrix`: real roles with real passwords, read back from a real Cloud DB that the
Cloud DB package migrated and synced (encrypted with AES-256-GCM), as a deploy leaves it."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from audit_fleet import FLEET, CliOutcome, Fleet

from railzway import clouddb
from railzway.audit.run import run_audit
from railzway.registry.loader import load_registry

CLOUD_DB = "railzway_cloud"


def outputs_of(fleet: Fleet, org_ids: list[int]) -> dict[str, object]:
    """What `pulumi stack output --json --show-secrets` prints for these tenants."""
    tenants = {}
    for spec in FLEET:
        if spec.org_id not in org_ids:
            continue
        password = fleet.passwords[spec.org_id]
        tenants[str(spec.org_id)] = {
            "org_id": spec.org_id,
            "db_host": "127.0.0.1",
            "db_port": fleet.server.port,
            "db_name": spec.database,
            "db_user": spec.role,
            "db_password": password,
            "database_url": fleet.server.url(spec.database, spec.role, password),
            "nomad_job_id": None,
            "status": spec.status,
            "tier": spec.tier,
            "version": "1.8.2",
            "region": spec.region,
        }
    return {"tenants": tenants}


@pytest.fixture(scope="module")
def cloud(fleet: Fleet) -> Iterator[dict[str, str]]:
    """A migrated Cloud DB holding every tenant's encrypted password; yields its environment."""
    fleet.sql(f"CREATE DATABASE {CLOUD_DB}")
    env = {clouddb.URL_ENV: fleet.server.url(CLOUD_DB), clouddb.KEYS_ENV: clouddb.generate_key()}
    with psycopg.connect(env[clouddb.URL_ENV]) as conn:
        clouddb.migrate(conn)
        clouddb.sync(conn, outputs_of(fleet, [s.org_id for s in FLEET]), clouddb.load_keys(env))
    yield env


@pytest.fixture
def matrix_env(cloud: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in cloud.items():
        monkeypatch.setenv(key, value)
    return cloud


def matrix(fleet: Fleet) -> CliOutcome:
    return fleet.audit("--login-matrix")


def test_every_tenant_logs_in_to_its_own_database_and_nowhere_else(fleet: Fleet, matrix_env: dict[str, str]) -> None:
    outcome = matrix(fleet)
    counts = outcome.json()["login_matrix"]
    assert outcome.code == 0, outcome.out + outcome.err
    assert (counts["own_accepted"], counts["own_expected_accept"]) == (4, 4)
    assert (counts["own_refused"], counts["own_expected_refuse"]) == (1, 1)  # the terminated tenant
    assert counts["foreign_attempted"] == 5 * 3
    assert counts["foreign_refused"] == counts["foreign_attempted"]
    assert (counts["inconclusive"], counts["without_password"]) == (0, 0)


def test_the_text_output_prints_the_counts(fleet: Fleet, matrix_env: dict[str, str]) -> None:
    outcome = fleet.audit("--login-matrix", "--format", "text")
    assert outcome.code == 0
    assert (
        "login matrix: own database 4/4 logged in, terminated 1/1 refused, other tenants' databases "
        "15/15 refused, 0 inconclusive, 0 without a password"
    ) in outcome.out.splitlines()


def test_no_password_appears_in_any_output(fleet: Fleet, matrix_env: dict[str, str]) -> None:
    with fleet.broken(
        ["ALTER ROLE railzway_user_102 PASSWORD 'rotated-behind-our-back'"],
        [f"ALTER ROLE railzway_user_102 PASSWORD '{fleet.passwords[102]}'"],
    ):
        shown = matrix(fleet)
        text = fleet.audit("--login-matrix", "--format", "text")
    everything = shown.out + shown.err + text.out + text.err
    assert shown.code == 1
    for password in fleet.passwords.values():
        assert password not in everything


def test_a_password_out_of_step_with_the_cloud_db_is_a_finding(fleet: Fleet, matrix_env: dict[str, str]) -> None:
    with fleet.broken(
        ["ALTER ROLE railzway_user_102 PASSWORD 'rotated-behind-our-back'"],
        [f"ALTER ROLE railzway_user_102 PASSWORD '{fleet.passwords[102]}'"],
    ):
        outcome = matrix(fleet)
        finding = next(f for f in outcome.json()["findings"] if f["code"] == "login-own-refused")
    assert outcome.code == 1
    assert finding["org_id"] == 102
    assert "password authentication failed" in finding["problem"]
    assert matrix(fleet).code == 0


def test_logins_into_other_tenants_databases_that_succeed_are_findings(
    fleet: Fleet, matrix_env: dict[str, str]
) -> None:
    open_all = [f"GRANT CONNECT ON DATABASE {s.database} TO PUBLIC" for s in FLEET]
    close_all = [f"REVOKE ALL ON DATABASE {s.database} FROM PUBLIC" for s in FLEET]
    with fleet.broken(open_all, close_all):
        outcome = matrix(fleet)
    accepted = [f for f in outcome.json()["findings"] if f["code"] == "login-foreign-accepted"]
    counts = outcome.json()["login_matrix"]
    assert outcome.code == 1
    assert accepted, outcome.out
    assert len(accepted) == counts["foreign_attempted"] - counts["foreign_refused"]
    # Only the terminated tenant's database, which takes no connections at all, still refuses.
    assert {f["org_id"] for f in accepted} <= {101, 102, 103, 201}


def test_a_terminated_tenant_that_can_still_log_in_is_a_finding(fleet: Fleet, matrix_env: dict[str, str]) -> None:
    with fleet.broken(
        [
            "ALTER ROLE railzway_user_104 LOGIN VALID UNTIL 'infinity' CONNECTION LIMIT 10",
            "ALTER DATABASE railzway_org_104 CONNECTION LIMIT 10",
        ],
        [
            "ALTER ROLE railzway_user_104 NOLOGIN VALID UNTIL '-infinity' CONNECTION LIMIT 0",
            "ALTER DATABASE railzway_org_104 CONNECTION LIMIT 0",
        ],
    ):
        outcome = matrix(fleet)
    assert outcome.code == 1
    assert "login-terminated-accepted" in outcome.codes_for(104)


def test_the_fix_for_a_terminated_tenant_that_logs_in_shuts_it_out_and_keeps_the_admin_in(
    fleet: Fleet, matrix_env: dict[str, str]
) -> None:
    # What the tenant specification gives a terminated tenant: NOLOGIN, an expired password, no connection
    # slot on the role and the database; never ALLOW_CONNECTIONS false, which shuts out the admin too.
    with fleet.broken(
        [
            "ALTER ROLE railzway_user_104 LOGIN VALID UNTIL 'infinity' CONNECTION LIMIT 10",
            "ALTER DATABASE railzway_org_104 CONNECTION LIMIT 10",
        ],
        [
            "ALTER ROLE railzway_user_104 NOLOGIN VALID UNTIL '-infinity' CONNECTION LIMIT 0",
            "ALTER DATABASE railzway_org_104 CONNECTION LIMIT 0",
        ],
    ):
        findings = matrix(fleet).json()["findings"]
        fix = next(f["fix"] for f in findings if f["code"] == "login-terminated-accepted" and f["org_id"] == 104)
        assert fix == (
            "`pulumi up` on the tenant's stack; or ALTER ROLE railzway_user_104 NOLOGIN VALID UNTIL '-infinity' "
            "CONNECTION LIMIT 0; ALTER DATABASE railzway_org_104 CONNECTION LIMIT 0"
        )
        fleet.sql(*fix.split("; or ", 1)[1].split("; "))
        assert "login-terminated-accepted" not in matrix(fleet).codes_for(104)
        with psycopg.connect(fleet.url, dbname="railzway_org_104") as admin:
            assert admin.execute("SELECT current_database()").fetchone() == ("railzway_org_104",)


def test_a_tenant_missing_from_the_cloud_db_is_a_warning(fleet: Fleet, matrix_env: dict[str, str]) -> None:
    with psycopg.connect(matrix_env[clouddb.URL_ENV]) as conn:
        conn.execute("DELETE FROM instances WHERE org_id = 201")
    try:
        outcome = matrix(fleet)
    finally:
        with psycopg.connect(matrix_env[clouddb.URL_ENV]) as conn:
            clouddb.sync(conn, outputs_of(fleet, [201]), clouddb.load_keys(matrix_env))
    assert outcome.code == 0
    assert outcome.codes_for(201) == {"login-no-password"}
    assert outcome.json()["login_matrix"]["without_password"] == 1


def test_every_pair_is_refused_when_the_sample_covers_the_whole_fleet(fleet: Fleet, matrix_env: dict[str, str]) -> None:
    result = run_audit(fleet.url, load_registry(fleet.registry), login_matrix=True, environ=matrix_env, sample=4)
    assert result.login_matrix is not None
    assert (result.login_matrix.foreign_attempted, result.login_matrix.foreign_refused) == (20, 20)
    assert result.findings == []


def test_without_the_credentials_keys_the_audit_cannot_run(
    fleet: Fleet, matrix_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(clouddb.KEYS_ENV)
    outcome = matrix(fleet)
    assert outcome.code == 2
    assert outcome.out == ""
    assert outcome.err.startswith("error: the login matrix needs the Cloud DB: RAILZWAY_CREDENTIALS_KEYS is not set")


def test_with_the_wrong_key_the_audit_cannot_run_and_names_the_orgs(
    fleet: Fleet, matrix_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(clouddb.KEYS_ENV, clouddb.generate_key())
    outcome = matrix(fleet)
    assert outcome.code == 2
    assert "org 101" in outcome.err and "not in RAILZWAY_CREDENTIALS_KEYS" in outcome.err


def test_without_a_cloud_db_url_the_audit_cannot_run(
    fleet: Fleet, matrix_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(clouddb.URL_ENV)
    outcome = matrix(fleet)
    assert outcome.code == 2
    assert "RAILZWAY_CLOUD_DB_URL is not set" in outcome.err
