"""`rekey`: every stored password under the first key, seed-era plain text included, all or nothing."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from clouddb_data import SEED_ROWS, dump, outputs, seed_at_version_4, tenant

from railzway import clouddb
from railzway.clouddb import CredentialsError, KeyRing, RekeyError, parse_keys


def key_ids(conn: psycopg.Connection) -> dict[int, str | None]:
    return dict(conn.execute("SELECT org_id, db_password_key_id FROM instances ORDER BY org_id").fetchall())


def test_rekey_with_two_keys_moves_every_row_to_the_first(
    conn: psycopg.Connection, keys: KeyRing, key_text: str
) -> None:
    data = outputs(*(tenant(o) for o in (1001, 1002, 1003)))
    clouddb.sync(conn, data, keys)
    new_key = clouddb.generate_key()
    both = parse_keys(f"{new_key},{key_text}")
    summary = clouddb.rekey(conn, both)
    assert (summary.reencrypted, summary.plaintext_encrypted, summary.already_current) == (3, 0, 0)
    assert set(key_ids(conn).values()) == {both.primary.key_id}
    # The old key can now be dropped: the new one alone decrypts everything, the old one alone nothing.
    only_new = parse_keys(new_key)
    assert {o: c.password for o, c in clouddb.credentials(conn, only_new).items()} == {
        o: tenant(o)["db_password"] for o in (1001, 1002, 1003)
    }
    with pytest.raises(CredentialsError, match="not in RAILZWAY_CREDENTIALS_KEYS"):
        clouddb.credentials(conn, keys)
    # And the next sync with the new key sees nothing to change.
    assert clouddb.sync(conn, data, only_new).unchanged == 3


def test_rekey_twice_changes_nothing_the_second_time(conn: psycopg.Connection, keys: KeyRing) -> None:
    clouddb.sync(conn, outputs(tenant(1001), tenant(1002)), keys)
    before = dump(conn)
    summary = clouddb.rekey(conn, keys)
    assert (summary.reencrypted, summary.plaintext_encrypted, summary.already_current) == (0, 0, 2)
    assert dump(conn) == before


def test_rekey_encrypts_plain_text_seed_rows(conn: psycopg.Connection, keys: KeyRing) -> None:
    conn.execute(
        "INSERT INTO instances (org_id, status, db_user, db_name, db_password) VALUES "
        "(1001, 'running', 'railzway_user_1001', 'railzway_org_1001', 'seed-plain-text-password-1001xx'), "
        "(1002, 'init', NULL, NULL, NULL)"
    )
    summary = clouddb.rekey(conn, keys)
    assert (summary.reencrypted, summary.plaintext_encrypted) == (0, 1)
    assert key_ids(conn) == {1001: keys.primary.key_id, 1002: None}
    stored = conn.execute("SELECT db_password FROM instances WHERE org_id = 1001").fetchone()
    assert stored is not None and stored[0] != "seed-plain-text-password-1001xx"
    assert clouddb.credentials(conn, keys)[1001].password == "seed-plain-text-password-1001xx"


def test_rekey_changes_nothing_when_one_row_does_not_decrypt(
    conn: psycopg.Connection, keys: KeyRing, key_text: str
) -> None:
    clouddb.sync(conn, outputs(tenant(1001), tenant(1002)), keys)
    conn.execute("INSERT INTO instances (org_id, db_password) VALUES (1003, 'seed-plain-text-password-1003xx')")
    conn.execute("UPDATE instances SET db_password = 'AAAA' || substr(db_password, 5) WHERE org_id = 1002")
    before = dump(conn)
    with pytest.raises(RekeyError) as raised:
        clouddb.rekey(conn, parse_keys(f"{clouddb.generate_key()},{key_text}"))
    assert [p.split(":")[0] for p in raised.value.problems] == ["org 1002"]
    assert dump(conn) == before


def test_a_seed_cloud_db_holds_no_plain_text_after_migrate_and_rekey(
    new_database: Callable[[], str], keys: KeyRing
) -> None:
    url = new_database()
    seed_at_version_4(url)
    with psycopg.connect(url) as conn:
        clouddb.migrate(conn)
        summary = clouddb.rekey(conn, keys)
        assert (summary.plaintext_encrypted, summary.reencrypted) == (2, 0)
        stored = conn.execute("SELECT db_password FROM instances WHERE db_password IS NOT NULL").fetchall()
        seed_passwords = {row[-1] for row in SEED_ROWS if row[-1]}
        assert len(stored) == 2 and not seed_passwords & {value for (value,) in stored}
        assert {c.password for c in clouddb.credentials(conn, keys).values()} == seed_passwords
