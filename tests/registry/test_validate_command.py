"""`python -m railzway validate`: accepts the shipped registry, rejects every bad input cleanly.

Each rejection runs the real command in a subprocess, as a pull request's check does, and asserts the
exit status, that the message names the file (and line/field where known), and that no traceback leaks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT


def run_validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "railzway", "validate", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=60,
    )


def write_org(registry: Path, name: str, content: str | bytes) -> Path:
    path = registry / "orgs" / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


VALID = 'org_id: 3001\ntier: starter\nversion: "1.8.2"\nstatus: running\nregion: us-east\nshard: 0\n'


def assert_rejected(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in:\n{result.stderr}"


def test_shipped_registry_is_valid_with_a_one_line_summary() -> None:
    result = run_validate()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        "tenants: valid: 8 tenants (5 running, 1 stopped, 2 terminated) in 2 regions, 3 shards, 2 tiers"
    ]


def test_a_new_valid_tenant_is_accepted(registry_dir: Path) -> None:
    write_org(registry_dir, "3001.yaml", VALID)
    result = run_validate(str(registry_dir))
    assert result.returncode == 0, result.stderr
    assert "9 tenants" in result.stdout


def test_unknown_field_is_rejected_naming_file_line_and_field(registry_dir: Path) -> None:
    path = write_org(registry_dir, "3001.yaml", VALID + "colour: blue\n")
    assert_rejected(run_validate(str(registry_dir)), f"{path}:7: error: colour: unknown field")


def test_duplicate_key_in_one_file_is_rejected(registry_dir: Path) -> None:
    path = write_org(registry_dir, "3001.yaml", VALID + "tier: growth\n")
    assert_rejected(run_validate(str(registry_dir)), f"{path}:7: error: tier: duplicate key (first on line 2)")


def test_same_org_id_in_two_files_is_rejected(registry_dir: Path) -> None:
    write_org(registry_dir, "3001.yaml", VALID.replace("3001", "1001"))
    assert_rejected(
        run_validate(str(registry_dir)),
        "3001.yaml:1: error: org_id: org_id 1001 is also defined in",
        "orgs/1001.yaml",
    )


def test_file_name_that_does_not_match_org_id_is_rejected(registry_dir: Path) -> None:
    path = write_org(registry_dir, "3002.yaml", VALID)
    assert_rejected(run_validate(str(registry_dir)), f"{path}:1: error: org_id: file name must be 3001.yaml")


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ("org_id: -4", "org_id", "greater than 0"),
        ("org_id: 0", "org_id", "greater than 0"),
        ("org_id: 9223372036854775808", "org_id", "less than or equal to 9223372036854775807"),
        ('org_id: "3001"', "org_id", "valid integer"),
        ("org_id: true", "org_id", "valid integer"),
        ("tier: gold", "tier", "unknown tier 'gold' (known: growth, starter)"),
        ("status: paused", "status", "'running', 'stopped' or 'terminated'"),
        ("region: mars-1", "region", "unknown region 'mars-1' (known: eu-west, us-east)"),
        ("version: 1.10", "version", "must be a string, got number 1.1: quote it in YAML"),
        ('version: "1.8 beta"', "version", "is not a valid image tag"),
        ('version: "latest"', "version", "is not pinned"),
        ("shard: 3", "shard", "region 'us-east' has shards 0-0; shard 3 does not exist"),
        ("subscription_id: 'sub 1'", "subscription_id", "1-255 letters"),
    ],
)
def test_wrong_type_or_out_of_range_value_is_rejected(registry_dir: Path, line: str, field: str, message: str) -> None:
    key = line.split(":")[0]
    lines = [ln for ln in VALID.splitlines() if not ln.startswith(f"{key}:")]
    write_org(registry_dir, "3001.yaml", "\n".join([*lines, line]) + "\n")
    assert_rejected(run_validate(str(registry_dir)), f"3001.yaml:{len(lines) + 1}: error: {field}: ", message)


def test_missing_required_field_is_rejected(registry_dir: Path) -> None:
    write_org(registry_dir, "3001.yaml", VALID.replace("tier: starter\n", ""))
    assert_rejected(run_validate(str(registry_dir)), "3001.yaml: error: tier: required field is missing")


def test_empty_file_is_rejected(registry_dir: Path) -> None:
    write_org(registry_dir, "3001.yaml", "  \n# nothing here\n")
    assert_rejected(run_validate(str(registry_dir)), "3001.yaml: error: empty file")


@pytest.mark.parametrize(("content", "kind"), [("- 1\n- 2\n", "sequence"), ("just a string\n", "string")])
def test_document_that_is_not_a_mapping_is_rejected(registry_dir: Path, content: str, kind: str) -> None:
    write_org(registry_dir, "3001.yaml", content)
    assert_rejected(
        run_validate(str(registry_dir)), f"3001.yaml:1: error: the document must be a mapping of fields, not a {kind}"
    )


@pytest.mark.parametrize(
    "content",
    [
        "!!python/object/apply:os.system ['true']\n",
        VALID + "extra: !custom 1\n",
        "!!map\n" + VALID,
        VALID.replace('"1.8.2"', "!!str 1.8.2"),
    ],
)
def test_yaml_tags_of_any_kind_are_rejected(registry_dir: Path, content: str) -> None:
    write_org(registry_dir, "3001.yaml", content)
    assert_rejected(run_validate(str(registry_dir)), "3001.yaml:", "YAML tags are not allowed in the registry")


def test_anchors_and_aliases_are_rejected(registry_dir: Path) -> None:
    write_org(registry_dir, "3001.yaml", VALID + "subscription_id: &s sub_1\npassword_rotation: *s\n")
    assert_rejected(run_validate(str(registry_dir)), "3001.yaml:7: error: YAML anchors and aliases are not allowed")


def test_bytes_that_are_not_utf8_are_rejected(registry_dir: Path) -> None:
    write_org(registry_dir, "3001.yaml", VALID.encode() + b"subscription_id: sub_\xff\xfe\n")
    assert_rejected(run_validate(str(registry_dir)), "3001.yaml: error: not UTF-8 text (invalid byte at offset")


def test_file_over_the_size_limit_is_rejected(registry_dir: Path) -> None:
    write_org(registry_dir, "3001.yaml", VALID + "# " + "x" * (64 * 1024) + "\n")
    assert_rejected(run_validate(str(registry_dir)), "3001.yaml: error: file is larger than 64 KiB")


def test_invalid_yaml_syntax_is_rejected_with_its_line(registry_dir: Path) -> None:
    write_org(registry_dir, "3001.yaml", VALID + "tier: [unclosed\n")
    assert_rejected(run_validate(str(registry_dir)), "3001.yaml:", "not valid YAML")


def test_more_than_one_document_is_rejected(registry_dir: Path) -> None:
    write_org(registry_dir, "3001.yaml", VALID + "---\n" + VALID)
    assert_rejected(run_validate(str(registry_dir)), "3001.yaml:7: error: more than one YAML document")


def test_a_file_that_is_not_a_yaml_tenant_file_is_rejected(registry_dir: Path) -> None:
    write_org(registry_dir, "3001.yml", VALID)
    assert_rejected(
        run_validate(str(registry_dir)), "3001.yml: error: unexpected file: tenant files are orgs/<org_id>.yaml"
    )


def test_unknown_downgrade_tier_is_rejected(registry_dir: Path) -> None:
    write_org(registry_dir, "3001.yaml", VALID + "downgrade:\n  tier: free\n  at: 2027-01-01\n")
    assert_rejected(run_validate(str(registry_dir)), "3001.yaml:8: error: downgrade.tier: unknown tier 'free'")


def test_broken_tier_catalogue_is_rejected(registry_dir: Path) -> None:
    (registry_dir / "tiers.yaml").write_text("tiers:\n  starter:\n    cpu: 250\n    memory_mb: 256\n")
    assert_rejected(
        run_validate(str(registry_dir)),
        "tiers.yaml:2: error: tiers.starter.connection_limit: required field is missing",
    )


def test_every_problem_is_reported_not_just_the_first(registry_dir: Path) -> None:
    write_org(registry_dir, "3001.yaml", VALID.replace("starter", "gold") + "colour: blue\n")
    write_org(registry_dir, "3002.yaml", "")
    result = run_validate(str(registry_dir))
    assert_rejected(result, "unknown tier 'gold'", "colour: unknown field", "3002.yaml: error: empty file")
    assert "3 problems found" in result.stderr


def test_missing_registry_directory_is_rejected(tmp_path: Path) -> None:
    assert_rejected(run_validate(str(tmp_path / "nowhere")), "no such registry directory")


def test_github_format_prints_annotations_on_the_problem_line(registry_dir: Path) -> None:
    path = write_org(registry_dir, "3001.yaml", VALID.replace("starter", "gold"))
    result = run_validate(str(registry_dir), "--format", "github")
    assert result.returncode == 1
    assert (
        f"::error file={path},line=2,title=tier::unknown tier 'gold' (known: growth, starter)"
        in result.stdout.splitlines()
    )


def test_oversized_shard_is_a_warning_not_an_error(registry_dir: Path) -> None:
    regions = (
        (registry_dir / "regions.yaml").read_text().replace("max_tenants_per_shard: 100", "max_tenants_per_shard: 2")
    )
    (registry_dir / "regions.yaml").write_text(regions)
    result = run_validate(str(registry_dir))
    assert result.returncode == 0, result.stderr
    assert "warning: shard eu-west/0 holds 3 tenants, over max_tenants_per_shard (2)" in result.stderr
