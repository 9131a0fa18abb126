"""Which backups of one tenant to prune: grandfather-father-son over days and ISO weeks (pure).

`--keep-daily N` keeps the newest backup of each of the N most recent days that have one; `--keep-weekly M`
the newest of each of the M most recent ISO weeks that have one. Whatever the counts, the newest backup is
always kept, and so is every protected one (the final backup a purge took).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Hashable, Sequence

from railzway.lifecycle.backup_store import StoredBackup


def to_prune(
    backups: Sequence[StoredBackup], keep_daily: int, keep_weekly: int, protected: Collection[str] = ()
) -> list[StoredBackup]:
    """The backups (of one tenant) that no rule keeps, oldest first."""
    if keep_daily < 0 or keep_weekly < 0:
        raise ValueError("--keep-daily and --keep-weekly must be 0 or more")
    newest_first = sorted(backups, reverse=True)
    keep: set[str] = {b.key for b in newest_first[:1]} | {b.key for b in backups if b.key in protected}
    keep |= _newest_per_period(newest_first, keep_daily, lambda t: t.date())
    keep |= _newest_per_period(newest_first, keep_weekly, lambda t: t.isocalendar()[:2])
    return [b for b in sorted(backups) if b.key not in keep]


def _newest_per_period(
    newest_first: Sequence[StoredBackup], count: int, period: Callable[[dt.datetime], Hashable]
) -> set[str]:
    kept: dict[Hashable, str] = {}
    for backup in newest_first:
        slot = period(backup.taken_at)
        if slot not in kept:
            if len(kept) == count:
                break
            kept[slot] = backup.key
    return set(kept.values())
