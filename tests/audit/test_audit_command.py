"""`railzway audit` as an operator meets it: warnings and --strict, --region, the text format, and exit 2
with a clear, secret-free message when the audit cannot run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from audit_fleet import Fleet, run_cli

from devkit.localpg import free_port

PROJECT = Path(__file__).resolve().parents[2]


def warning_codes(fleet: Fleet, org_id: int, *extra: str) -> tuple[int, set[str]]:
    outcome = fleet.audit(*extra)
    return outcome.code, {
        f["code"] for f in outcome.json()["findings"] if f["org_id"] == org_id and f["severity"] == "warning"
    }


def test_a_role_connection_limit_off_tier_is_a_warning_that_exits_0(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER ROLE railzway_user_101 CONNECTION LIMIT 50"], ["ALTER ROLE railzway_user_101 CONNECTION LIMIT 5"]
    ):
        assert warning_codes(fleet, 101) == (0, {"role-connection-limit"})


def test_strict_turns_a_warning_into_exit_1(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER DATABASE railzway_org_102 CONNECTION LIMIT -1"], ["ALTER DATABASE railzway_org_102 CONNECTION LIMIT 20"]
    ):
        code, codes = warning_codes(fleet, 102, "--strict")
        assert (code, codes) == (1, {"database-connection-limit"})
    assert fleet.audit("--strict").code == 0


def test_a_terminated_tenants_database_accepting_connections_is_a_warning(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER DATABASE railzway_org_104 CONNECTION LIMIT 10"], ["ALTER DATABASE railzway_org_104 CONNECTION LIMIT 0"]
    ):
        assert warning_codes(fleet, 104) == (0, {"terminated-database-connections"})


def test_a_running_tenant_that_cannot_log_in_is_a_warning(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER ROLE railzway_user_201 NOLOGIN", "ALTER DATABASE railzway_org_201 ALLOW_CONNECTIONS false"],
        ["ALTER ROLE railzway_user_201 LOGIN", "ALTER DATABASE railzway_org_201 ALLOW_CONNECTIONS true"],
    ):
        assert warning_codes(fleet, 201) == (0, {"role-nologin", "database-refuses-connections"})


def test_an_expired_password_of_a_stopped_tenant_is_a_warning(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER ROLE railzway_user_103 VALID UNTIL '2001-01-01'"],
        ["ALTER ROLE railzway_user_103 VALID UNTIL 'infinity'"],
    ):
        assert warning_codes(fleet, 103) == (0, {"role-password-expired"})


def test_region_limits_the_audit_to_that_regions_tenants(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER DATABASE railzway_org_101 RENAME TO parked_101"],
        ["ALTER DATABASE parked_101 RENAME TO railzway_org_101"],
    ):
        us_east = fleet.audit("--region", "us-east")
        eu_west = fleet.audit("--region", "eu-west")
    # Other regions' objects are known to the registry: neither checked nor orphans.
    assert (us_east.code, us_east.json()["tenants"], us_east.json()["findings"]) == (0, 1, [])
    assert (eu_west.code, eu_west.json()["tenants"]) == (1, 4)
    assert eu_west.codes_for(101) == {"database-missing"}


def test_text_output_names_the_org_the_object_the_problem_and_the_fix(fleet: Fleet) -> None:
    with fleet.broken(
        ["GRANT CONNECT ON DATABASE railzway_org_103 TO PUBLIC"],
        ["REVOKE ALL ON DATABASE railzway_org_103 FROM PUBLIC"],
    ):
        outcome = run_cli("audit", "--admin-url", fleet.url, "--registry", str(fleet.registry))
    lines = outcome.out.splitlines()
    assert outcome.code == 1
    assert (
        lines[0]
        == "FINDING  org 103  database railzway_org_103: PUBLIC holds CONNECT: every role on the server may use it"
    )
    assert lines[1].strip().startswith('fix: REVOKE ALL ON DATABASE "railzway_org_103" FROM PUBLIC')
    assert "1 finding, 0 warnings" in lines[-1]
    assert outcome.err.strip() == "error: audit failed: 1 finding (security or data), 0 warnings"


def test_a_clean_text_audit_says_so_and_shows_no_password(fleet: Fleet) -> None:
    outcome = run_cli("audit", "--admin-url", fleet.url, "--registry", str(fleet.registry))
    assert outcome.code == 0
    assert outcome.out.splitlines()[-1].startswith("audit of provisioner@127.0.0.1:")
    assert ": 5 tenants: clean (" in outcome.out
    assert fleet.server.password not in outcome.out + outcome.err


def test_an_unreachable_server_exits_2_with_a_message_and_no_traceback(fleet: Fleet) -> None:
    url = f"postgresql://postgres:Sup3r-Secret@127.0.0.1:{free_port()}/postgres"
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    done = subprocess.run(
        [sys.executable, "-m", "railzway", "audit", "--admin-url", url, "--registry", str(fleet.registry)],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: cannot connect to the server (connection failed:")
    assert "Traceback" not in done.stderr
    assert "Sup3r-Secret" not in done.stderr


def test_a_password_quoted_back_by_libpq_is_masked(fleet: Fleet) -> None:
    outcome = run_cli(
        "audit",
        "--admin-url",
        "postgresql://postgres:Zz%ZZhunter2@127.0.0.1:1/postgres",
        "--registry",
        str(fleet.registry),
    )
    assert outcome.code == 2
    assert "hunter2" not in outcome.err
    assert outcome.err.strip() == 'error: cannot connect to the server (invalid percent-encoded token: "***")'


def test_a_wrong_admin_password_exits_2(fleet: Fleet) -> None:
    outcome = run_cli("audit", "--admin-url", fleet.server.url(password="not-it"), "--registry", str(fleet.registry))
    assert outcome.code == 2
    assert "password authentication failed" in outcome.err


def test_an_unknown_format_is_a_usage_error_exiting_2(fleet: Fleet) -> None:
    outcome = run_cli("audit", "--admin-url", fleet.url, "--registry", str(fleet.registry), "--format", "xml")
    assert outcome.code == 2
    assert "'xml' is not one of 'text', 'json'" in outcome.err


def test_a_missing_registry_option_exits_2(fleet: Fleet) -> None:
    outcome = run_cli("audit", "--admin-url", fleet.url)
    assert outcome.code == 2
    assert "--registry" in outcome.err


def test_an_invalid_registry_exits_2_naming_the_file(fleet: Fleet, tmp_path: Path) -> None:
    broken = tmp_path / "tenants"
    broken.mkdir()
    (broken / "orgs").mkdir()
    (broken / "tiers.yaml").write_text((fleet.registry / "tiers.yaml").read_text())
    (broken / "regions.yaml").write_text((fleet.registry / "regions.yaml").read_text())
    (broken / "orgs" / "7.yaml").write_text('org_id: 7\ntier: platinum\nversion: "1.0.0"\nregion: eu-west\n')
    outcome = run_cli("audit", "--admin-url", fleet.url, "--registry", str(broken))
    assert outcome.code == 2
    assert "invalid registry" in outcome.err
    assert "orgs/7.yaml" in outcome.err and "unknown tier 'platinum'" in outcome.err


def test_an_unknown_region_exits_2(fleet: Fleet) -> None:
    outcome = run_cli("audit", "--admin-url", fleet.url, "--registry", str(fleet.registry), "--region", "mars")
    assert outcome.code == 2
    assert outcome.err.strip() == "error: unknown region 'mars' (the registry's regions: eu-west, us-east)"
