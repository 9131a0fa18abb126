"""`migrate`: golang-migrate's layout and bookkeeping, the seed's version 4, the lock and the dirty flag."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from clouddb_data import SEED_ROWS, seed_at_version_4

from railzway import clouddb
from railzway.clouddb import CLOUD_DB, DirtyDatabase, MigrationError, MigrationSource
from railzway.clouddb.migrate import lock_id

LATEST = 8
ALL_LABELS = [
    "000001_create_instances_table",
    "000002_add_instance_tier",
    "000003_add_instance_compute_engine_and_subscription",
    "000004_add_db_credentials",
    "000005_encrypt_db_password",
    "000006_add_instance_region_and_source_stack",
    "000007_create_stack_revisions",
    "000008_create_tenant_backups_and_purges",
]

# The seed's instances table (database-provisioning.md, "Instance Table Structure"), as information_schema
# describes it: (column, data_type, character_maximum_length).
SEED_COLUMNS = [
    ("id", "bigint", None),
    ("org_id", "bigint", None),
    ("nomad_job_id", "character varying", 255),
    ("desired_version", "character varying", 50),
    ("current_version", "character varying", 50),
    ("status", "character varying", 50),
    ("created_at", "timestamp without time zone", None),
    ("updated_at", "timestamp without time zone", None),
    ("tier", "character varying", 50),
    ("compute_engine", "character varying", 50),
    ("subscription_id", "character varying", 255),
    ("db_host", "character varying", 255),
    ("db_port", "integer", None),
    ("db_name", "character varying", 255),
    ("db_user", "character varying", 255),
    ("db_password", "character varying", 255),
]


def columns(conn: psycopg.Connection) -> list[tuple[str, str, int | None]]:
    return [
        (name, kind, length)
        for name, kind, length in conn.execute(
            "SELECT column_name, data_type, character_maximum_length FROM information_schema.columns "
            "WHERE table_name = 'instances' ORDER BY ordinal_position"
        ).fetchall()
    ]


def test_migrate_from_empty_applies_every_migration_and_records_the_latest_clean(
    new_database: Callable[[], str],
) -> None:
    with psycopg.connect(new_database()) as conn:
        applied = clouddb.migrate(conn)
        assert applied == {"cloud-db": ALL_LABELS}
        assert clouddb.status(conn) == (LATEST, False)
        assert conn.execute("SELECT version, dirty FROM schema_migrations").fetchall() == [(LATEST, False)]


def test_migrations_are_package_data_in_golang_migrate_layout() -> None:
    labels = [m.label for m in CLOUD_DB.migrations()]
    assert labels == ALL_LABELS
    names = {entry.name for entry in CLOUD_DB.files.iterdir() if entry.name.endswith(".sql")}
    assert names == {f"{label}.{d}.sql" for label in ALL_LABELS for d in ("up", "down")}


def test_versions_1_to_4_reproduce_the_seed_instances_table(new_database: Callable[[], str]) -> None:
    with psycopg.connect(new_database()) as conn:
        clouddb.migrate_to(conn, 4)
        assert columns(conn) == SEED_COLUMNS
        assert clouddb.status(conn) == (4, False)
        unique = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'instances'::regclass "
            "AND contype = 'u'"
        ).fetchall()
        assert unique == [("UNIQUE (org_id)",)]


def test_migrate_continues_a_seed_database_at_version_4_and_keeps_its_rows(new_database: Callable[[], str]) -> None:
    url = new_database()
    seed_at_version_4(url)
    with psycopg.connect(url) as conn:
        applied = clouddb.migrate(conn)
        assert applied == {"cloud-db": ALL_LABELS[4:]}
        assert clouddb.status(conn) == (LATEST, False)
        rows = conn.execute(
            "SELECT org_id, nomad_job_id, desired_version, current_version, status, tier, compute_engine, "
            "subscription_id, db_host, db_port, db_name, db_user, db_password FROM instances ORDER BY org_id"
        ).fetchall()
        assert rows == SEED_ROWS
        # Seed-era passwords stay plain text until `rekey`, recognisable by their missing key id.
        plain = conn.execute("SELECT org_id FROM instances WHERE db_password_key_id IS NULL ORDER BY org_id").fetchall()
        assert plain == [(1001,), (1002,), (1003,)]
        kinds = dict((name, kind) for name, kind, _ in columns(conn))
        assert kinds["db_password"] == "text"


def test_migrate_twice_applies_nothing_the_second_time(cloud_db: str) -> None:
    with psycopg.connect(cloud_db, autocommit=True) as conn:
        before = columns(conn)
        assert clouddb.migrate(conn) == {"cloud-db": []}
        assert columns(conn) == before
        assert conn.execute("SELECT version, dirty FROM schema_migrations").fetchall() == [(LATEST, False)]


def test_two_migrators_at_once_are_serialized_by_the_advisory_lock(new_database: Callable[[], str]) -> None:
    url = new_database()
    results: list[dict[str, list[str]]] = []
    errors: list[BaseException] = []

    def migrator() -> None:
        try:
            with psycopg.connect(url) as conn:
                results.append(clouddb.migrate(conn))
        except BaseException as e:
            errors.append(e)

    with psycopg.connect(url, autocommit=True) as holder:
        # Hold golang-migrate's lock so both migrators are provably waiting at the same moment.
        key = lock_id(url.rsplit("/", 1)[1], "public")
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        threads = [threading.Thread(target=migrator) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        waiting = 0
        while time.monotonic() < deadline:
            row = holder.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s",
                (key,),
            ).fetchone()
            waiting = row[0] if row else 0
            if waiting == 2:
                break
            time.sleep(0.05)
        assert waiting == 2, "both migrators should be waiting on the migrate lock"
        holder.execute("SELECT pg_advisory_unlock(%s)", (key,))
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(results, key=lambda r: len(r["cloud-db"])) == [{"cloud-db": []}, {"cloud-db": ALL_LABELS}]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version, dirty FROM schema_migrations").fetchall() == [(LATEST, False)]


def test_the_lock_key_is_golang_migrates_for_the_same_database() -> None:
    # database.GenerateAdvisoryLockId("railzway_cloud", "public", "schema_migrations") in golang-migrate v4:
    # crc32.ChecksumIEEE("public\x00schema_migrations\x00railzway_cloud") * 1486364155, as uint32.
    import zlib

    expected = (zlib.crc32(b"public\x00schema_migrations\x00railzway_cloud") * 1486364155) & 0xFFFFFFFF
    assert lock_id("railzway_cloud", "public") == expected
    assert 0 <= expected < 2**32


def broken_source(tmp_path: Path) -> MigrationSource:
    (tmp_path / "000001_create_things.up.sql").write_text("CREATE TABLE things (id int);\n")
    (tmp_path / "000002_break.up.sql").write_text(
        "ALTER TABLE things ADD COLUMN name text;\nALTER TABLE no_such_table ADD COLUMN x int;\n"
    )
    return MigrationSource("extra", tmp_path, table="extra_schema_migrations")


def test_a_failed_migration_rolls_back_and_leaves_the_dirty_flag(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    source = broken_source(tmp_path)
    with psycopg.connect(new_database()) as conn:
        with pytest.raises(MigrationError, match=r"000002_break failed: relation \"no_such_table\" does not exist"):
            clouddb.migrate(conn, (source,))
        assert clouddb.status(conn, source) == (2, True)
        # The migration's first statement was rolled back with the failing one.
        names = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'things'"
        ).fetchall()
        assert names == [("id",)]


def test_a_dirty_schema_is_refused_with_the_version_and_the_fix(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    source = broken_source(tmp_path)
    with psycopg.connect(new_database()) as conn:
        with pytest.raises(MigrationError):
            clouddb.migrate(conn, (source,))
        (tmp_path / "000002_break.up.sql").write_text("ALTER TABLE things ADD COLUMN name text;\n")
        with pytest.raises(DirtyDatabase) as refused:
            clouddb.migrate(conn, (source,))
        assert refused.value.version == 2
        assert "dirty at version 2 (000002_break" in str(refused.value)
        assert "railzway migrate --force 1" in str(refused.value)
        clouddb.force(conn, 1, source)
        assert clouddb.migrate(conn, (source,)) == {"extra": ["000002_break"]}
        assert clouddb.status(conn, source) == (2, False)


def test_extra_schema_steps_run_after_the_cloud_db_under_the_same_call(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    calls: list[int | None] = []

    def queue_schema(conn: psycopg.Connection) -> list[str]:
        # A step sees the Cloud DB already migrated, and decides for itself whether it has work to do.
        calls.append(clouddb.CLOUD_DB.status(conn)[0])
        exists = conn.execute("SELECT to_regclass('queue_jobs') IS NOT NULL").fetchone()
        if exists and exists[0]:
            return []
        conn.execute("CREATE TABLE queue_jobs (id bigserial PRIMARY KEY)")
        return ["queue_jobs"]

    steps = (CLOUD_DB, clouddb.FunctionStep("queue", queue_schema))
    with psycopg.connect(new_database()) as conn:
        assert clouddb.migrate(conn, steps) == {"cloud-db": ALL_LABELS, "queue": ["queue_jobs"]}
        assert clouddb.migrate(conn, steps) == {"cloud-db": [], "queue": []}
    assert calls == [LATEST, LATEST]


def test_a_database_newer_than_this_program_is_refused(cloud_db: str) -> None:
    with psycopg.connect(cloud_db, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET version = 99")
        with pytest.raises(MigrationError, match="at version 99, newer than this program's latest"):
            clouddb.migrate(conn)
