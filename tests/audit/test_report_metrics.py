"""`railzway report` figures against databases filled with a known amount of data and known connections."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from audit_fleet import Fleet, run_cli

MIB = 1024 * 1024
FILLED_ORG = 102
# 16,384 rows of ~1 KB, stored inline and uncompressed (below the TOAST threshold): 8 rows per 8 KB page.
FILLER_ROWS = 16384
FILLER_BYTES = 16 * MIB


@pytest.fixture(scope="module")
def filled(fleet: Fleet) -> Fleet:
    """Org 102's database holding 16 MiB of table data, written by the tenant's own role."""
    url = fleet.server.url("railzway_org_102", "railzway_user_102", fleet.passwords[FILLED_ORG])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE filler AS SELECT g AS id, repeat(md5(g::text), 30) AS pad FROM generate_series(1, %s) AS g",
            (FILLER_ROWS,),
        )
    return fleet


def report(fleet: Fleet, *extra: str, registry: Path | None = None) -> tuple[int, str, str]:
    outcome = run_cli("report", "--admin-url", fleet.url, "--registry", str(registry or fleet.registry), *extra)
    return outcome.code, outcome.out, outcome.err


def tenants_json(fleet: Fleet, registry: Path | None = None) -> dict[int, dict[str, object]]:
    code, out, err = report(fleet, "--format", "json", registry=registry)
    assert code == 0, err
    return {row["org_id"]: row for row in json.loads(out)["tenants"]}


@pytest.fixture
def tight_quota(fleet: Fleet, tmp_path: Path) -> Path:
    """The fleet's registry with quotas an empty database fits and the filled one does not."""
    target = tmp_path / "tenants"
    shutil.copytree(fleet.registry, target)
    tiers = (target / "tiers.yaml").read_text()
    tiers = tiers.replace("storage_quota_mb: 64", "storage_quota_mb: 12").replace(
        "storage_quota_mb: 1024", "storage_quota_mb: 16"
    )
    (target / "tiers.yaml").write_text(tiers)
    return target


@pytest.fixture
def three_connections(fleet: Fleet) -> Iterator[None]:
    url = fleet.server.url("railzway_org_101", "railzway_user_101", fleet.passwords[101])
    conns = [psycopg.connect(url) for _ in range(3)]
    try:
        yield
    finally:
        for conn in conns:
            conn.close()


def test_size_of_a_filled_database_grows_by_the_data_written(filled: Fleet) -> None:
    rows = tenants_json(filled)
    empty, full = rows[101]["size_bytes"], rows[FILLED_ORG]["size_bytes"]
    assert isinstance(empty, int) and isinstance(full, int)
    grown = full - empty
    assert FILLER_BYTES <= grown <= FILLER_BYTES * 1.1, f"grew by {grown / MIB:.2f} MiB"


def test_an_empty_tenant_database_is_a_few_mebibytes(fleet: Fleet) -> None:
    size = tenants_json(fleet)[201]["size_bytes"]
    assert isinstance(size, int) and 5 * MIB <= size <= 12 * MIB


def test_open_connections_are_counted_per_tenant(fleet: Fleet, three_connections: None) -> None:
    rows = tenants_json(fleet)
    assert rows[101]["connections"] == 3
    assert rows[101]["connection_limit"] == 5
    assert [rows[org]["connections"] for org in (102, 103, 104, 201)] == [0, 0, 0, 0]


def test_a_tenant_over_its_storage_quota_is_flagged(filled: Fleet, tight_quota: Path) -> None:
    rows = tenants_json(filled, tight_quota)
    assert rows[FILLED_ORG]["over_quota"] is True
    assert rows[FILLED_ORG]["storage_quota_bytes"] == 16 * MIB
    assert [org for org, row in rows.items() if row["over_quota"]] == [FILLED_ORG]


def test_fail_on_quota_exits_1_naming_the_tenant(filled: Fleet, tight_quota: Path) -> None:
    code, _, err = report(filled, "--format", "json", "--fail-on-quota", registry=tight_quota)
    assert code == 1
    assert err.strip() == "error: 1 tenant(s) over their storage quota: 102"


def test_without_fail_on_quota_a_tenant_over_quota_still_exits_0(filled: Fleet, tight_quota: Path) -> None:
    assert report(filled, "--format", "json", registry=tight_quota)[0] == 0


def test_fail_on_quota_exits_0_when_every_tenant_fits(filled: Fleet) -> None:
    assert report(filled, "--format", "json", "--fail-on-quota")[0] == 0


def test_a_missing_database_is_reported_as_absent(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER DATABASE railzway_org_201 RENAME TO parked_201"],
        ["ALTER DATABASE parked_201 RENAME TO railzway_org_201"],
    ):
        row = tenants_json(fleet)[201]
    assert (row["present"], row["size_bytes"], row["connections"]) == (False, None, 0)


_SAMPLE_RE = re.compile(r'^(railzway_tenant_[a-z_]+)\{org_id="(\d+)",region="([a-z-]+)",tier="([a-z-]+)"\} (\d+)$')


def prometheus_samples(text: str) -> dict[tuple[str, int], int]:
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        assert m, f"not a sample line of the exposition format: {line!r}"
        samples[(m[1], int(m[2]))] = int(m[5])
    return samples


def test_prometheus_output_matches_the_json_figures(filled: Fleet, three_connections: None) -> None:
    code, text, _ = report(filled, "--format", "prometheus")
    rows = tenants_json(filled)
    samples = prometheus_samples(text)
    assert code == 0
    assert samples[("railzway_tenant_database_size_bytes", FILLED_ORG)] == rows[FILLED_ORG]["size_bytes"]
    assert samples[("railzway_tenant_connections", 101)] == 3
    assert samples[("railzway_tenant_connection_limit", 102)] == 20
    assert samples[("railzway_tenant_storage_quota_bytes", 101)] == 64 * MIB
    assert samples[("railzway_tenant_over_storage_quota", FILLED_ORG)] == 0


def test_prometheus_output_declares_each_metric_once_before_its_samples(fleet: Fleet) -> None:
    _, text, _ = report(fleet, "--format", "prometheus")
    seen: list[str] = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:]
            assert kind == "gauge" and name not in seen
            seen.append(name)
        elif not line.startswith("# HELP "):
            assert line.split("{")[0] == seen[-1]
    assert text.endswith("\n")
    assert len(seen) == 7


def test_prometheus_output_leaves_out_the_size_of_a_missing_database(fleet: Fleet) -> None:
    with fleet.broken(
        ["ALTER DATABASE railzway_org_201 RENAME TO parked_201"],
        ["ALTER DATABASE parked_201 RENAME TO railzway_org_201"],
    ):
        samples = prometheus_samples(report(fleet, "--format", "prometheus")[1])
    assert samples[("railzway_tenant_database_present", 201)] == 0
    assert ("railzway_tenant_database_size_bytes", 201) not in samples


def test_the_table_marks_a_tenant_over_quota(filled: Fleet, tight_quota: Path) -> None:
    code, out, _ = report(filled, registry=tight_quota)
    line = next(line for line in out.splitlines() if re.match(r"\s*102 ", line))
    assert code == 0
    assert "OVER QUOTA" in line and "growth" in line


def test_an_unreachable_server_exits_2(fleet: Fleet) -> None:
    outcome = run_cli(
        "report", "--admin-url", "postgresql://postgres:pw@127.0.0.1:1/postgres", "--registry", str(fleet.registry)
    )
    assert outcome.code == 2
    assert outcome.err.startswith("error: cannot connect to the server")
