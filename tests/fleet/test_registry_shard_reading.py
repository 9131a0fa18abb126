"""Reading only a stack's shards of the registry (what each stack's program does).

The shard-limited read must return exactly the tenants the full read puts in those shards, whatever
YAML spelling a file uses; a file it cannot place for certain is read in full, so its errors still show.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from railzway.registry.loader import RegistryError, load_registry

MakeRegistry = Callable[..., Path]


def write(registry: Path, org_id: int, text: str) -> None:
    (registry / "orgs" / f"{org_id}.yaml").write_text(text)


def same_as_full(registry: Path, shards: set[tuple[str, int]]) -> list[int]:
    limited = load_registry(registry, shards)
    expected = [t.org_id for t in load_registry(registry).in_shards(shards)]
    assert sorted(limited.tenants) == expected
    return expected


def test_only_the_tenants_of_the_given_shards_are_returned(make_registry: MakeRegistry) -> None:
    registry = make_registry(
        [{"org_id": o, "shard": o % 3} for o in range(1, 13)] + [{"org_id": 20, "region": "us-east", "shard": 0}]
    )
    assert same_as_full(registry, {("eu-west", 1)}) == [1, 4, 7, 10]
    assert same_as_full(registry, {("eu-west", 0), ("us-east", 0)}) == [3, 6, 9, 12, 20]


def test_a_file_without_shard_stops_every_stacks_read(make_registry: MakeRegistry) -> None:
    # Read as shard 0 it would be deployed there, then moved by `assign-shard`: no stack may take it.
    registry = make_registry([{"org_id": 1}, {"org_id": 2, "shard": 1}])
    for shards in ({("eu-west", 0)}, {("eu-west", 1)}, {("us-east", 0)}, None):
        with pytest.raises(RegistryError, match=r"1\.yaml: error: shard: required field is missing"):
            load_registry(registry, shards)


@pytest.mark.parametrize(
    "spelling",
    [
        'org_id: 5\ntier: starter\nversion: "1.8.2"\n"region": eu-west\n"shard": 1\n',  # quoted keys
        'org_id: 5\ntier: starter\nversion: "1.8.2"\nregion: "eu-west"\nshard: 1\n',  # quoted region
        "{org_id: 5, tier: starter, version: '1.8.2', region: eu-west, shard: 1}\n",  # flow mapping
        'org_id: 5\ntier: starter\nversion: "1.8.2"\nregion: eu-west\nshard: 0x1\n',  # hexadecimal
        'org_id: 5\ntier: starter\nversion: "1.8.2"\nregion: eu-west\nshard: 01\n',  # YAML 1.1 octal
        'org_id: 5\ntier: starter\nversion: "1.8.2"\nregion: eu-west\nshard: 1 # the second shard\n',
    ],
)
def test_any_spelling_of_shard_one_is_found_in_shard_one(make_registry: MakeRegistry, spelling: str) -> None:
    registry = make_registry([{"org_id": 1, "shard": 0}])
    write(registry, 5, spelling)
    assert same_as_full(registry, {("eu-west", 1)}) == [5]
    assert same_as_full(registry, {("eu-west", 0)}) == [1]


def test_a_shard_line_inside_a_quoted_value_does_not_move_the_tenant(make_registry: MakeRegistry) -> None:
    registry = make_registry([])
    write(
        registry,
        5,
        'org_id: 5\ntier: starter\nversion: "1.8.2"\nregion: eu-west\nshard: 0\npassword_rotation: "a\nshard: 2"\n',
    )
    assert same_as_full(registry, {("eu-west", 0)}) == [5]
    assert same_as_full(registry, {("eu-west", 2)}) == []


def test_octal_looking_shard_is_read_as_yaml_reads_it(make_registry: MakeRegistry) -> None:
    registry = make_registry([])
    write(registry, 5, 'org_id: 5\ntier: starter\nversion: "1.8.2"\nregion: eu-west\nshard: 02\n')
    assert same_as_full(registry, {("eu-west", 2)}) == [5]


def test_a_malformed_file_in_another_shard_still_stops_the_read(make_registry: MakeRegistry) -> None:
    registry = make_registry([{"org_id": 1, "shard": 0}])
    write(registry, 5, "org_id: 5\nregion: eu-west\nshard: 2\nshard: 2\n")
    with pytest.raises(RegistryError, match="duplicate key"):
        load_registry(registry, {("eu-west", 0)})


def test_a_valid_yaml_tenant_of_another_shard_is_not_validated(make_registry: MakeRegistry) -> None:
    registry = make_registry([{"org_id": 1, "shard": 0}])
    write(registry, 5, "org_id: 5\ntier: platinum\nversion: latest\nregion: eu-west\nshard: 2\n")
    assert sorted(load_registry(registry, {("eu-west", 0)}).tenants) == [1]
    with pytest.raises(RegistryError, match="unknown tier 'platinum'"):
        load_registry(registry, {("eu-west", 2)})


@pytest.mark.parametrize(
    "text",
    [
        # As `dump_tenant` writes a file, with a scheduled downgrade (a nested mapping) after the shard.
        "org_id: 5\ntier: growth\nversion: 1.8.2\nstatus: running\nregion: eu-west\nshard: 1\n"
        "password_rotation: '2026-10-01'\ndowngrade:\n  tier: starter\n  at: '2026-12-31'\n",
        # Comments and blank lines around the fields.
        '# moved here on purpose\norg_id: 5\n\ntier: starter  # cheap\nversion: "1.8.2"\nregion: eu-west\nshard: 1\n',
        # Windows line ends: read by the full path.
        "org_id: 5\r\ntier: starter\r\nversion: '1.8.2'\r\nregion: eu-west\r\nshard: 1\r\n",
    ],
)
def test_common_file_layouts_are_placed_in_their_shard(make_registry: MakeRegistry, text: str) -> None:
    registry = make_registry([{"org_id": 1, "shard": 0}])
    write(registry, 5, text)
    assert same_as_full(registry, {("eu-west", 1)}) == [5]
    assert same_as_full(registry, {("eu-west", 0)}) == [1]


def test_a_shard_under_a_nested_key_is_not_the_tenants_shard(make_registry: MakeRegistry) -> None:
    registry = make_registry([])
    write(registry, 5, "org_id: 5\ntier: starter\nversion: '1.8.2'\nregion: eu-west\ndowngrade:\n  shard: 2\n")
    with pytest.raises(RegistryError, match=r"downgrade\.shard"):
        load_registry(registry, {("eu-west", 0)})


def test_a_comment_ended_by_a_carriage_return_does_not_hide_the_shard(make_registry: MakeRegistry) -> None:
    # YAML ends a line at \r too: the shard line after the comment is a key, and the tenant is in shard 1.
    registry = make_registry([{"org_id": 1, "shard": 0}])
    write(registry, 5, 'org_id: 5\ntier: starter\nversion: "1.8.2"\nregion: eu-west # placed\rshard: 1\n')
    assert same_as_full(registry, {("eu-west", 1)}) == [5]
    assert same_as_full(registry, {("eu-west", 0)}) == [1]


@pytest.mark.parametrize("line_end", ["\r", "\r\n", "\x85", "\u2028", "\u2029"])
def test_every_yaml_line_break_is_read_as_yaml_reads_it(make_registry: MakeRegistry, line_end: str) -> None:
    registry = make_registry([{"org_id": 1, "shard": 0}])
    text = f'org_id: 5\ntier: starter\nversion: "1.8.2"\nregion: eu-west # note{line_end}shard: 2\n'
    (registry / "orgs" / "5.yaml").write_bytes(text.encode())
    assert same_as_full(registry, {("eu-west", 2)}) == [5]
    assert same_as_full(registry, {("eu-west", 0)}) == [1]
