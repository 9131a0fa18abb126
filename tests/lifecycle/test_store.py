"""The backup store's layout and its refusals (a real file:// store; other schemes only by URL parsing)."""

from __future__ import annotations

import datetime as dt

import pytest

from railzway.lifecycle.backup_store import BackupStore, StoreError, dump_key, manifest_key, parse_key, store_url


def test_keys_are_region_org_and_a_millisecond_utc_timestamp() -> None:
    moment = dt.datetime(2026, 11, 30, 4, 5, 6, 789_000, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    key = dump_key("eu-west", 1001, moment)
    assert key == "eu-west/1001/20261130T030506.789Z.dump"
    assert manifest_key(key) == "eu-west/1001/20261130T030506.789Z.json"
    parsed = parse_key(key)
    assert parsed is not None
    assert (parsed.region, parsed.org_id, parsed.taken_at) == ("eu-west", 1001, moment)


def test_other_objects_are_not_backups() -> None:
    assert parse_key("eu-west/1001/20261130T030506.789Z.json") is None
    assert parse_key("eu-west/1001/notes.dump") is None


def test_the_store_defaults_to_the_environment_and_says_how_to_name_one() -> None:
    assert store_url(None, {"RAILZWAY_BACKUP_URL": "file:///backups/"}) == "file:///backups"
    assert store_url("s3://bucket/x", {"RAILZWAY_BACKUP_URL": "file:///backups"}) == "s3://bucket/x"
    with pytest.raises(StoreError, match="pass --store URL or set RAILZWAY_BACKUP_URL"):
        store_url(None, {})


def test_an_unknown_scheme_is_refused_in_one_line() -> None:
    with pytest.raises(StoreError, match=r"^cannot open the backup store ftp://host/x: .*ftp://host/x\"$"):
        BackupStore("ftp://host/x")


def test_a_url_with_a_password_is_refused() -> None:
    with pytest.raises(StoreError, match="carries a password"):
        BackupStore("https://user:secret@backups.example/tenants")


def test_deleting_twice_and_listing_an_empty_store_are_not_errors(store: BackupStore) -> None:
    store.put_bytes("eu-west/1/20261130T030506.789Z.dump", b"x")
    store.delete("eu-west/1/20261130T030506.789Z.dump")
    store.delete("eu-west/1/20261130T030506.789Z.dump")
    assert store.backups() == []
