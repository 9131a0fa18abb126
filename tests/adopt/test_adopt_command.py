"""`railzway adopt` over a fleet built exactly as the Go control plane built it (real PostgreSQL, real Cloud DB)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import yaml
from conftest import CliRunner
from seed_fleet import ADOPTABLE, BASE, REFUSED, SeedTenant

from devkit.localpg import LocalPostgres
from railzway import clouddb
from railzway.registry.loader import load_registry

# The shipped registry holds eu-west shards 0 and 1 with 3 and 2 tenants: least-loaded placement, in
# org-id order, puts the four adopted tenants in shards 1, 0, 1, 0.
EXPECTED_FILES = {
    BASE + 1: {
        "org_id": BASE + 1,
        "tier": "starter",
        "version": "1.7.0",
        "status": "running",
        "region": "eu-west",
        "shard": 1,
        "subscription_id": "sub_A1",
        "password_rotation": "adopted",
    },
    BASE + 2: {
        "org_id": BASE + 2,
        "tier": "growth",
        "version": "1.8.2",
        "status": "running",
        "region": "eu-west",
        "shard": 0,
        "password_rotation": "adopted",
    },
    BASE + 3: {
        "org_id": BASE + 3,
        "tier": "growth",
        "version": "1.7.0",
        "status": "stopped",
        "region": "eu-west",
        "shard": 1,
        "password_rotation": "adopted",
    },
    BASE + 4: {
        "org_id": BASE + 4,
        "tier": "starter",
        "version": "1.6.0",
        "status": "terminated",
        "region": "eu-west",
        "shard": 0,
        "password_rotation": "adopted",
    },
}


def org_files(registry_dir: Path) -> dict[int, dict[str, object]]:
    return {
        int(path.stem): yaml.safe_load(path.read_text())
        for path in (registry_dir / "orgs").glob("*.yaml")
        if int(path.stem) >= BASE
    }


def assert_no_password(text: str, fleet: list[SeedTenant], postgres: LocalPostgres) -> None:
    for tenant in fleet:
        assert tenant.password not in text
    assert postgres.password not in text


def test_dry_run_prints_each_file_and_its_imports_and_writes_nothing(
    run_adopt: CliRunner, registry_dir: Path, seed_fleet: list[SeedTenant], postgres: LocalPostgres
) -> None:
    result = run_adopt("--dry-run")
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert out.splitlines()[0] == (
        "Cloud DB at version 4: 8 instances; 4 to adopt, 0 already in the registry, 4 refused (dry run: nothing written)"
    )
    assert (
        f"would write {registry_dir}/orgs/{BASE + 2}.yaml (seed status 'upgrading' -> running, tier 'PRO' -> growth, shard eu-west/0)"
        in out
    )
    assert '    password_rotation: "adopted"' in out
    assert (
        f"  first up imports: role railzway_user_{BASE + 1}, database railzway_org_{BASE + 1}, Nomad job "
        f"railzway-org-{BASE + 1} (in regions with Nomad; its variable is created); password kept from the Cloud "
        "DB (never printed)"
    ) in out
    # A stopped tenant's job is re-registered, not imported (Nomad may have garbage-collected it).
    assert f"  first up imports: role railzway_user_{BASE + 3}, database railzway_org_{BASE + 3}; password" in out
    assert "  note: runs 1.7.0, desired 1.8.2: the first up rolls its job to 1.8.2" in out
    assert_no_password(result.stdout + result.stderr, seed_fleet, postgres)
    assert org_files(registry_dir) == {}


def test_adopt_writes_one_file_per_adoptable_instance(run_adopt: CliRunner, registry_dir: Path) -> None:
    result = run_adopt()
    assert result.returncode == 1, result.stderr
    assert org_files(registry_dir) == EXPECTED_FILES
    registry = load_registry(registry_dir)
    assert sorted(org for org in registry.tenants if org >= BASE) == list(ADOPTABLE)


def test_adopt_refuses_with_every_reason_and_names_them_on_exit(run_adopt: CliRunner) -> None:
    result = run_adopt()
    refused = {
        line.split(":", 1)[0].strip(): line.split(":", 1)[1]
        for line in result.stdout.splitlines()
        if line.startswith("  org ")
    }
    assert set(refused) == {f"org {org}" for org in REFUSED}
    assert (
        f"database railzway_org_{BASE + 5} is owned by postgres, not by railzway_user_{BASE + 5}"
        in refused[f"org {BASE + 5}"]
    )
    assert f"database railzway_org_{BASE + 6} is missing" in refused[f"org {BASE + 6}"]
    assert "status 'provisioning': the Go control plane never finished provisioning it" in refused[f"org {BASE + 7}"]
    assert (
        f"role railzway_user_{BASE + 7} and database railzway_org_{BASE + 7} are missing" in refused[f"org {BASE + 7}"]
    )
    assert f"the Cloud DB password does not log railzway_user_{BASE + 8} in" in refused[f"org {BASE + 8}"]
    assert result.stderr.strip() == f"error: 4 instance(s) refused: {', '.join(map(str, REFUSED))}"


def test_adopt_twice_changes_nothing(run_adopt: CliRunner, registry_dir: Path) -> None:
    run_adopt()
    before = {path: path.read_bytes() for path in (registry_dir / "orgs").glob("*.yaml")}
    again = run_adopt()
    assert again.stdout.splitlines()[0] == (
        "Cloud DB at version 4: 8 instances; 0 to adopt, 4 already in the registry, 4 refused"
    )
    assert {path: path.read_bytes() for path in (registry_dir / "orgs").glob("*.yaml")} == before


def test_adopt_refuses_a_dirty_cloud_db_and_writes_nothing(
    run_adopt: CliRunner, seed_db: str, registry_dir: Path
) -> None:
    with psycopg.connect(seed_db, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET dirty = true")
    result = run_adopt()
    assert result.returncode == 2
    assert "the Cloud DB schema is dirty at version 4" in result.stderr
    assert "Traceback" not in result.stderr
    assert org_files(registry_dir) == {}


def test_adopt_refuses_a_cloud_db_newer_than_it_knows(run_adopt: CliRunner, seed_db: str, registry_dir: Path) -> None:
    with psycopg.connect(seed_db, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET version = 999")
    result = run_adopt()
    assert result.returncode == 2
    assert "the Cloud DB is at version 999, newer than this program knows" in result.stderr
    assert org_files(registry_dir) == {}


def test_adopt_reads_a_cloud_db_our_migrations_brought_forward(
    run_adopt: CliRunner, seed_db: str, registry_dir: Path
) -> None:
    with psycopg.connect(seed_db) as conn:
        clouddb.migrate(conn)
    result = run_adopt()
    assert result.stdout.splitlines()[0].endswith("8 instances; 4 to adopt, 0 already in the registry, 4 refused")
    assert org_files(registry_dir) == EXPECTED_FILES


def test_adopt_without_the_cloud_db_url_is_a_clear_error(run_adopt: CliRunner) -> None:
    result = run_adopt(env={"RAILZWAY_CLOUD_DB_URL": ""})
    assert result.returncode == 2
    assert result.stderr.startswith("error: RAILZWAY_CLOUD_DB_URL is not set")


def test_adopted_files_validate(run_adopt: CliRunner, registry_dir: Path) -> None:
    run_adopt()
    load_registry(registry_dir)  # raises RegistryError listing every problem when one file is invalid
