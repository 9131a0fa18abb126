"""The stack configuration model and its checks against the registry, without Pulumi."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from railzway.config import stack_config
from railzway.config.stack_config import StackConfigError, endpoint_problems, parse_stack_config, stack_tenants
from railzway.registry.loader import load_registry
from railzway.registry.model import Registry
from railzway.tenant.env import SSLMODES

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(PROJECT / "tenants")


def dev_config() -> dict[str, Any]:
    """The shipped dev stack's `railzway:` values, keys without the namespace."""
    raw = yaml.safe_load((PROJECT / "Pulumi.dev.yaml").read_text())["config"]
    return {key.split(":", 1)[1]: value for key, value in raw.items()}


def problems_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(raw)
    return caught.value.problems


PG = {"host": "10.0.0.1"}


def test_shipped_dev_stack_parses() -> None:
    config = parse_stack_config(dev_config())
    eu = config.regions["eu-west"]
    assert (eu.postgres.host, eu.postgres.port, eu.postgres.sslmode) == ("127.0.0.1", 5432, "disable")
    assert eu.nomad is not None and eu.nomad.datacenters == ["dc1"]
    assert config.regions["us-east"].nomad is None


def test_defaults_match_the_project_file() -> None:
    declared = yaml.safe_load((PROJECT / "Pulumi.yaml").read_text())["config"]
    assert declared["registryDir"]["default"] == stack_config.DEFAULT_REGISTRY_DIR
    assert declared["imageRepository"]["default"] == stack_config.DEFAULT_IMAGE_REPOSITORY
    config = parse_stack_config({})
    assert (config.registry_dir, config.image_repository, config.shards) == (
        "tenants",
        declared["imageRepository"]["default"],
        [],
    )


def test_sslmode_literal_matches_the_url_builders_list() -> None:
    assert set(typing.get_args(stack_config.SslMode)) == set(SSLMODES)


def test_tenant_host_defaults_to_host() -> None:
    config = parse_stack_config({"regions": {"eu-west": {"postgres": {"host": "pg.internal"}}}})
    assert config.regions["eu-west"].postgres.tenant_host == "pg.internal"


def test_postgres_defaults_are_safe() -> None:
    pg = parse_stack_config({"regions": {"eu-west": {"postgres": PG}}}).regions["eu-west"].postgres
    assert (pg.port, pg.username, pg.sslmode, pg.password) == (5432, "postgres", "require", None)


def test_port_given_as_a_string_is_accepted() -> None:
    config = parse_stack_config({"regions": {"eu-west": {"postgres": {**PG, "port": "6432"}}}})
    assert config.regions["eu-west"].postgres.port == 6432


def test_nomad_defaults() -> None:
    config = parse_stack_config({"regions": {"eu-west": {"postgres": PG, "nomad": {"address": "https://n:4646"}}}})
    nomad = config.regions["eu-west"].nomad
    assert nomad is not None
    assert (nomad.region, nomad.namespace, nomad.datacenters, nomad.token) == ("global", "default", ["*"], None)


def test_secrets_never_appear_in_repr() -> None:
    config = parse_stack_config(
        {
            "regions": {
                "eu-west": {
                    "postgres": {**PG, "password": "pg-admin-secret"},
                    "nomad": {"address": "http://n:4646", "token": "nomad-secret-token"},
                }
            }
        }
    )
    assert "pg-admin-secret" not in repr(config) and "nomad-secret-token" not in repr(config)
    assert config.regions["eu-west"].postgres.password == "pg-admin-secret"


def test_none_values_mean_unset() -> None:
    assert parse_stack_config({"registryDir": None, "shards": None}).registry_dir == "tenants"


def test_shard_set_parses_region_and_number() -> None:
    config = parse_stack_config({"shards": ["eu-west/1", "us-east/0"]})
    assert config.shard_set == {("eu-west", 1), ("us-east", 0)}


def test_empty_shards_mean_every_tenant() -> None:
    assert parse_stack_config({}).shard_set is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"regions": {"eu-west": {"postgres": {}}}}, "railzway:regions.eu-west.postgres.host: required key is missing"),
        (
            {"regions": {"eu-west": {"postgres": {**PG, "sslmode": "off"}}}},
            "railzway:regions.eu-west.postgres.sslmode:",
        ),
        ({"regions": {"eu-west": {"postgres": {**PG, "port": 70000}}}}, "railzway:regions.eu-west.postgres.port:"),
        (
            {"regions": {"eu-west": {"postgres": {**PG, "tenanthost": "x"}}}},
            "railzway:regions.eu-west.postgres.tenanthost: unknown key",
        ),
        (
            {"regions": {"eu-west": {"nomad": {"address": "http://n"}}}},
            "railzway:regions.eu-west.postgres: required key is missing",
        ),
        (
            {"regions": {"eu-west": {"postgres": PG, "nomad": {"address": "nomad:4646"}}}},
            "railzway:regions.eu-west.nomad.address: 'nomad:4646' must be an http:// or https:// URL",
        ),
        (
            {"regions": {"eu-west": {"postgres": PG, "nomad": {"address": "http://n", "datacenters": []}}}},
            "railzway:regions.eu-west.nomad.datacenters:",
        ),
        (
            {"regions": {"eu-west": {"postgres": PG, "nomad": {"address": "http://n", "datacenters": [""]}}}},
            "railzway:regions.eu-west.nomad.datacenters: datacenter names must not be empty",
        ),
        ({"shards": ["eu-west-1"]}, "railzway:shards: 'eu-west-1' is not \"<region>/<shard number>\""),
        ({"shards": ["eu-west/1", "eu-west/1"]}, "railzway:shards: lists a shard twice"),
        ({"shards": [3]}, "railzway:shards[0]: input should be a valid string"),
        ({"imageRepository": "ghcr.io/x/railzway:1.0"}, "railzway:imageRepository: 'ghcr.io/x/railzway:1.0' must be"),
        ({"registrydir": "x"}, "railzway:registrydir: unknown key"),
    ],
)
def test_invalid_config_names_the_key(raw: dict[str, Any], expected: str) -> None:
    assert any(p.startswith(expected) for p in problems_of(raw)), problems_of(raw)


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of({"regions": {"eu-west": {"postgres": {"host": "h", "sslmode": "x", "port": 0}}}})
    assert len(problems) == 2


# --- endpoint_problems ----------------------------------------------------------------------------


def test_dev_stack_has_endpoints_for_every_tenant(registry: Registry) -> None:
    assert endpoint_problems(parse_stack_config(dev_config()), registry) == []


def test_region_without_endpoints_names_the_key_and_its_tenants(registry: Registry) -> None:
    config = parse_stack_config({"regions": {"eu-west": {"postgres": PG}}})
    (problem,) = endpoint_problems(config, registry)
    assert problem.startswith("railzway:regions.us-east is not configured")
    assert "2001, 2002, 2003" in problem and "railzway:regions.us-east.postgres.host" in problem


def test_a_shard_stack_needs_only_its_own_region(registry: Registry) -> None:
    config = parse_stack_config({"shards": ["eu-west/1"], "regions": {"eu-west": {"postgres": PG}}})
    assert endpoint_problems(config, registry) == []
    assert [t.org_id for t in stack_tenants(config, registry)] == [1003, 1004]


def test_unknown_shard_region_is_reported(registry: Registry) -> None:
    config = parse_stack_config({"shards": ["ap-south/0"]})
    assert endpoint_problems(config, registry) == [
        "railzway:shards[0]: unknown region 'ap-south' (tenants/regions.yaml has: eu-west, us-east)"
    ]


def test_shard_beyond_the_regions_count_is_reported(registry: Registry) -> None:
    config = parse_stack_config({"shards": ["us-east/1"]})
    assert endpoint_problems(config, registry) == ["railzway:shards[0]: region 'us-east' has shards 0-0, not 1"]


def test_configured_region_unknown_to_the_registry_is_reported(registry: Registry) -> None:
    config = parse_stack_config({**dev_config(), "regions": {**dev_config()["regions"], "eu-wset": {"postgres": PG}}})
    assert endpoint_problems(config, registry) == [
        "railzway:regions.eu-wset: unknown region (tenants/regions.yaml has: eu-west, us-east)"
    ]
