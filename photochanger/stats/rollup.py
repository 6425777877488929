"""Per-day job counts (``job_day_rollup``) behind the stats overview.

Summing a week of raw ``job_history`` rows and counting the whole table grow
with the table, so a busy history made the stats page slow. Closed UTC days are therefore summed up
once, lazily, by the first overview call that finds them missing. A window is
then the roll-up of its whole marked days plus the raw rows around them, and
``jobs_total`` the roll-up of every marked day plus the raw rows of the rest.

Exactness: triggers (migration 0003) delete a day's marker whenever one of its
rows is inserted, deleted or changes a counted column, so a marked day always
matches its rows; an unmarked day is read raw. Rolling up takes the marker
table's SHARE ROW EXCLUSIVE lock on PostgreSQL (the triggers need ROW
EXCLUSIVE, so a writer of a day waits for the roll-up or the roll-up sees it),
and on SQLite starts with a write, which takes the database's write lock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    String,
    and_,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.sql import Select

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.jobs.recovery import STALE_AFTER
from photochanger.models import JobDayRollup, JobHistory, JobRollupDay

#: (slot_id, source, status, failure_reason, hash_provided, hash_matched, jobs)
Row = tuple[str, str, str, str | None, bool, bool | None, int]

UI_TEST = "ui_test"
DAY = dt.timedelta(days=1)
#: a day is rolled up once none of its jobs can still be running (stale jobs are dead)
GRACE = STALE_AFTER
#: one part of the overview's UNION ALL: (part, day, *Row)
Part = Select[*tuple[Any, ...]]
#: re-reads when a day was (un)marked between reading the markers and the counts
ATTEMPTS = 3

_RAW = (
    JobHistory.slot_id,
    JobHistory.source,
    JobHistory.status,
    JobHistory.failure_reason,
    JobHistory.hash_provided,
    JobHistory.hash_matched,
)
_ROLLED = (
    JobDayRollup.slot_id,
    JobDayRollup.source,
    JobDayRollup.status,
    JobDayRollup.failure_reason,
    JobDayRollup.hash_provided,
    JobDayRollup.hash_matched,
)


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def roll_up_closed_days(now: dt.datetime) -> int:
    """Sum up every closed day that has no marker yet; returns how many were rolled up."""
    last = (now - GRACE).astimezone(dt.UTC).date() - DAY
    first = db.session.execute(select(func.min(JobHistory.started_at))).scalar()
    if first is None:
        return 0
    marked = set(_marked_days())
    if not _missing(first.astimezone(dt.UTC).date(), last, marked):
        return 0
    rolled = 0
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("LOCK TABLE job_rollup_day IN SHARE ROW EXCLUSIVE MODE"))
        # The first write: on SQLite it takes the write lock before the sums are read.
        # It also drops the counts of days a trigger has unmarked since.
        orphan = ~exists().where(JobRollupDay.day == JobDayRollup.day)
        conn.execute(delete(JobDayRollup).where(orphan))
        marked = set(conn.execute(select(JobRollupDay.day)).scalars())
        for day in _missing(first.astimezone(dt.UTC).date(), last, marked):
            start = day_start(day)
            sums = (
                select(literal(day, Date), *_RAW, func.count())
                .where(JobHistory.started_at >= start, JobHistory.started_at < start + DAY)
                .group_by(*_RAW)
            )
            columns = ["day", *(c.key for c in _ROLLED), "jobs"]
            conn.execute(insert(JobDayRollup).from_select(columns, sums))
            conn.execute(insert(JobRollupDay).values(day=day, rolled_at=utcnow()))
            rolled += 1
    return rolled


def window_counts(since: dt.datetime) -> tuple[list[Row], int]:
    """Grouped counts of the jobs started at or after ``since``, and ``jobs_total``.

    Read in one statement (one snapshot); if the markers moved since they were
    read the statement is repeated, and at last the raw rows alone are counted.
    """
    for _ in range(ATTEMPTS):
        marked = _marked_days()
        rows, total, seen = _read(since, marked)
        if seen == marked:
            return rows, total
    rows, total, _ = _read(since, [])
    return rows, total


def _marked_days() -> list[dt.date]:
    return list(db.session.execute(select(JobRollupDay.day).order_by(JobRollupDay.day)).scalars())


def _missing(first: dt.date, last: dt.date, marked: set[dt.date]) -> list[dt.date]:
    days = [first + DAY * i for i in range((last - first).days + 1)]
    return [day for day in days if day not in marked]


def _read(since: dt.datetime, marked: Sequence[dt.date]) -> tuple[list[Row], int, list[dt.date]]:
    """Window rows, ``jobs_total`` and the markers seen, from rolled-up ``marked`` days + raw rows."""
    in_window = [day for day in marked if day_start(day) >= since]
    parts: list[Part] = [
        _raw_part("w", _outside(in_window, since)).group_by(*_RAW),
        _raw_part("t", _outside(marked, None), JobHistory.source != UI_TEST),
    ]
    if marked:
        last = marked[-1]
        if in_window:
            parts.append(_rolled_part("w", JobDayRollup.day >= in_window[0], JobDayRollup.day <= last))
        parts.append(
            _rolled_part("t", JobDayRollup.source != UI_TEST, JobDayRollup.day <= last, grouped=False)
        )
        # The markers this very snapshot used; the caller checks they are the ones it read.
        marker: Part = select(literal("m"), JobRollupDay.day, *_NULLS, literal(0))
        parts.append(marker.where(JobRollupDay.day <= last))
    rows: list[Row] = []
    total = 0
    seen: list[dt.date] = []
    for part, day, *row in db.session.execute(union_all(*parts)):
        if part == "w":
            rows.append((row[0], row[1], row[2], row[3], bool(row[4]), row[5], int(row[6])))
        elif part == "t":
            total += int(row[6] or 0)
        else:
            seen.append(day)
    return rows, total, sorted(seen)


_NULLS = (
    cast(null(), String(32)),
    cast(null(), String(16)),
    cast(null(), String(16)),
    cast(null(), String(32)),
    cast(null(), Boolean),
    cast(null(), Boolean),
)


def _raw_part(part: str, *where: ColumnElement[bool]) -> Part:
    columns = _RAW if part == "w" else _NULLS
    return select(literal(part), cast(null(), Date), *columns, func.count()).where(*where)


def _rolled_part(part: str, *where: ColumnElement[bool], grouped: bool = True) -> Part:
    columns = _ROLLED if grouped else _NULLS
    query = (
        select(literal(part), cast(null(), Date), *columns, func.sum(JobDayRollup.jobs))
        .join(JobRollupDay, JobRollupDay.day == JobDayRollup.day)
        .where(*where)
    )
    return query.group_by(*_ROLLED) if grouped else query


def _outside(days: Sequence[dt.date], since: dt.datetime | None) -> ColumnElement[bool]:
    """``started_at`` from ``since`` (None: the beginning) on, outside the given sorted days."""
    ranges: list[tuple[dt.datetime | None, dt.datetime | None]] = []
    lo = since
    for day in days:
        start = day_start(day)
        if lo is None or start > lo:
            ranges.append((lo, start))
        lo = start + DAY
    ranges.append((lo, None))
    return or_(*(_between(a, b) for a, b in ranges))


def _between(lo: dt.datetime | None, hi: dt.datetime | None) -> ColumnElement[bool]:
    bounds = []
    if lo is not None:
        bounds.append(JobHistory.started_at >= lo)
    if hi is not None:
        bounds.append(JobHistory.started_at < hi)
    return and_(*bounds) if bounds else true()
