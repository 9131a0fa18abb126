"""GFS retention: the pure rule on timestamps, then applied to a real file:// store of real backups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from lifecycle_kit import TenantFactory

from devkit.localpg import LocalPostgres
from railzway.lifecycle.backup import ServerTools, Target, apply_retention, backup_tenant
from railzway.lifecycle.backup_store import BackupStore, StoredBackup, dump_key, parse_key
from railzway.lifecycle.retention import to_prune

# A Monday: the ISO week starts on it.
MONDAY = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)


def _daily(days: int, org: int = 1) -> list[StoredBackup]:
    found = [parse_key(dump_key("eu-west", org, MONDAY - dt.timedelta(days=d))) for d in range(days)]
    return [b for b in found if b is not None]


def _dates(backups: list[StoredBackup]) -> list[str]:
    return [b.taken_at.date().isoformat() for b in backups]


def test_keeps_the_newest_of_each_of_the_last_daily_days_and_weekly_weeks() -> None:
    pruned = to_prune(_daily(30), keep_daily=7, keep_weekly=4)
    kept = sorted(set(_dates(_daily(30))) - set(_dates(pruned)))
    # Seven days (Nov 24-30), then the newest of the three ISO weeks before: Sunday Nov 22, 15 (and Nov 29
    # is already kept as a daily).
    assert kept == ["2026-11-15", "2026-11-22", *[f"2026-11-{d}" for d in range(24, 31)]]


def test_keeps_only_the_newest_backup_of_a_day() -> None:
    backups = [b for b in (parse_key(dump_key("eu-west", 1, MONDAY + dt.timedelta(hours=h))) for h in range(3)) if b]
    assert to_prune(backups, keep_daily=1, keep_weekly=0) == backups[:2]


def test_never_prunes_the_newest_backup_even_when_asked_to_keep_none() -> None:
    backups = _daily(5)
    pruned = to_prune(backups, keep_daily=0, keep_weekly=0)
    assert _dates(pruned) == _dates(sorted(backups)[:-1])


def test_never_prunes_a_protected_backup() -> None:
    backups = sorted(_daily(10))
    pruned = to_prune(backups, keep_daily=2, keep_weekly=0, protected={backups[0].key})
    assert backups[0] not in pruned
    assert len(pruned) == 7


def _clock(moments: list[dt.datetime]) -> Iterator[dt.datetime]:
    for moment in moments:
        yield moment
        yield moment + dt.timedelta(seconds=1)  # finished_at


def test_retention_deletes_the_right_dumps_and_their_manifests_from_the_store(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=5)
    moments = [MONDAY - dt.timedelta(days=d) for d in range(10, -1, -1)]  # Nov 20 .. Nov 30, one a day
    ticks = _clock(moments)
    for _ in moments:
        backup_tenant(postgres.url(), store, tools, org, "eu-west", clock=lambda: next(ticks))
    pruned = apply_retention(store, [Target(org, "eu-west")], keep_daily=3, keep_weekly=3)
    left = store.backups(f"eu-west/{org}/")
    # Daily: Nov 28-30; weekly: the ISO weeks of Nov 30 and Nov 29 are kept already, the third adds Nov 22.
    assert _dates(left) == ["2026-11-22", "2026-11-28", "2026-11-29", "2026-11-30"]
    assert pruned == 7
    files = list(Path(store.url.removeprefix("file://"), "eu-west", str(org)).iterdir())
    assert len(files) == 8  # four dumps, four manifests


def test_retention_keeps_the_final_backup_a_purge_took(
    postgres: LocalPostgres, store: BackupStore, tools: ServerTools, make_tenant: TenantFactory
) -> None:
    org = make_tenant(rows=5)
    ticks = _clock([MONDAY - dt.timedelta(days=20), MONDAY - dt.timedelta(days=1), MONDAY])
    final = backup_tenant(postgres.url(), store, tools, org, "eu-west", final=True, clock=lambda: next(ticks))
    backup_tenant(postgres.url(), store, tools, org, "eu-west", clock=lambda: next(ticks))
    backup_tenant(postgres.url(), store, tools, org, "eu-west", clock=lambda: next(ticks))
    apply_retention(store, [Target(org, "eu-west")], keep_daily=1, keep_weekly=0)
    assert [b.key for b in store.backups(f"eu-west/{org}/")] == [final.dump, dump_key("eu-west", org, MONDAY)]
