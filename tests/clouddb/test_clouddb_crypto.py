"""Credentials at rest: AES-256-GCM with the org id bound in, keys from RAILZWAY_CREDENTIALS_KEYS."""

from __future__ import annotations

import base64

import psycopg
import pytest
from clouddb_data import outputs, tenant

from railzway import clouddb
from railzway.clouddb import CredentialsError, CredentialsKeyError, DecryptionError, KeyRing, load_keys, parse_keys
from railzway.clouddb.crypto import key_id_of

PASSWORD = "Tenant-password-0123456789_abcde"


def test_a_password_round_trips_for_its_own_org(keys: KeyRing) -> None:
    sealed = keys.seal(1001, PASSWORD)
    assert keys.decrypt(1001, sealed.key_id, sealed.ciphertext) == PASSWORD


def test_each_write_uses_a_fresh_nonce_but_the_same_fingerprint(keys: KeyRing) -> None:
    first, second = keys.seal(1001, PASSWORD), keys.seal(1001, PASSWORD)
    assert first.ciphertext != second.ciphertext
    assert base64.b64decode(first.ciphertext)[:12] != base64.b64decode(second.ciphertext)[:12]
    assert first.fingerprint == second.fingerprint
    assert keys.matches(1001, PASSWORD, first.key_id, second.fingerprint)
    assert not keys.matches(1001, PASSWORD + "x", first.key_id, second.fingerprint)


def test_a_ciphertext_for_one_org_does_not_decrypt_for_another(keys: KeyRing) -> None:
    sealed = keys.seal(1001, PASSWORD)
    with pytest.raises(DecryptionError, match="org 1002: the stored password does not decrypt"):
        keys.decrypt(1002, sealed.key_id, sealed.ciphertext)


def test_the_fingerprint_differs_between_orgs_for_the_same_password(keys: KeyRing) -> None:
    assert keys.seal(1001, PASSWORD).fingerprint != keys.seal(1002, PASSWORD).fingerprint


def test_a_ciphertext_moved_to_another_orgs_row_fails_to_decrypt(conn: psycopg.Connection, keys: KeyRing) -> None:
    clouddb.sync(conn, outputs(tenant(1001), tenant(1002)), keys)
    conn.execute(
        "UPDATE instances AS dst SET db_password = src.db_password, db_password_key_id = src.db_password_key_id, "
        "db_password_fingerprint = src.db_password_fingerprint FROM instances AS src "
        "WHERE src.org_id = 1001 AND dst.org_id = 1002"
    )
    with pytest.raises(CredentialsError) as raised:
        clouddb.credentials(conn, keys)
    assert raised.value.problems == [
        f"org 1002: the stored password does not decrypt with key {keys.primary.key_id}: it was written for "
        "another org (copied between rows) or altered"
    ]
    assert clouddb.credentials(conn, keys, org_ids=[1001])[1001].password == tenant(1001)["db_password"]


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old, new = clouddb.generate_key(), clouddb.generate_key()
    sealed_by_old = parse_keys(old).seal(1001, PASSWORD)
    ring = parse_keys(f"{new}, {old}")
    assert ring.primary.key_id == key_id_of(base64.b64decode(new))
    assert ring.seal(1001, PASSWORD).key_id == ring.primary.key_id
    assert ring.decrypt(1001, sealed_by_old.key_id, sealed_by_old.ciphertext) == PASSWORD


def test_a_key_id_not_configured_is_named_in_the_error(keys: KeyRing) -> None:
    sealed = parse_keys(clouddb.generate_key()).seal(1001, PASSWORD)
    with pytest.raises(DecryptionError, match=f"encrypted with key {sealed.key_id}, which is not in"):
        keys.decrypt(1001, sealed.key_id, sealed.ciphertext)


def test_the_key_id_is_stable_and_reveals_nothing_of_the_key(key_text: str) -> None:
    assert parse_keys(key_text).primary.key_id == parse_keys(key_text).primary.key_id
    assert len(parse_keys(key_text).primary.key_id) == 16
    assert parse_keys(key_text).primary.key_id not in base64.b64decode(key_text).hex()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "RAILZWAY_CREDENTIALS_KEYS is empty"),
        ("not*base64!", "key #1 is not valid base64"),
        (base64.b64encode(b"k" * 16).decode(), "key #1 is 16 bytes; AES-256 needs 32"),
        (f"{base64.b64encode(b'k' * 32).decode()},", "key #2 is empty"),
        (f"{base64.b64encode(b'k' * 32).decode()},{base64.b64encode(b'k' * 32).decode()}", "key #2 repeats key #1"),
    ],
    ids=["empty", "not-base64", "too-short", "stray-comma", "repeated"],
)
def test_malformed_keys_are_refused_without_showing_them(value: str, message: str) -> None:
    with pytest.raises(CredentialsKeyError) as raised:
        parse_keys(value)
    assert message in str(raised.value)
    for part in filter(None, value.split(",")):
        assert part not in str(raised.value)


def test_missing_keys_variable_says_what_to_set() -> None:
    with pytest.raises(CredentialsKeyError, match="RAILZWAY_CREDENTIALS_KEYS is not set"):
        load_keys({})


def test_a_key_ring_repr_shows_ids_only(keys: KeyRing, key_text: str) -> None:
    assert repr(keys) == f"KeyRing(ids=['{keys.primary.key_id}'])"
    assert key_text not in repr(keys.primary)
