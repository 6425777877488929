"""``GET /api/stats/overview``: global counters and per-slot state (brief §8).

Booth traffic (``source = "ingest"``) and admin test-runs (``"ui_test"``) are
counted separately so tests never inflate the studio's figures. Window counts
and ``jobs_total`` come from per-day roll-ups plus the raw rows of partial days
(:mod:`.rollup`); the per-slot "last success / last error" look-ups are index
probes that stop at the first match.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import CompoundSelect, Row, func, select, union_all

from photochanger.clock import iso_z, utcnow
from photochanger.extensions import db
from photochanger.models import JobHistory, JobStatus, MediaObject, Slot
from photochanger.stats.reset import Resets, load_resets
from photochanger.stats.rollup import UI_TEST, roll_up_closed_days, window_counts

#: Before any job: "from the beginning" for a roll-up read.
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
DEFAULT_WINDOW_MINUTES = 60
MAX_WINDOW_MINUTES = 7 * 24 * 60
#: failure reasons that are the provider's fault (DESIGN.md §3: 502/503 answers)
PROVIDER_ERRORS = frozenset(
    {"bad_response", "blocked", "not_configured", "quota", "provider_5xx", "network", "provider_unavailable"}
)
#: Statuses that count as a slot's last error; the later of the two is shown.
_ERROR_STATUSES = (JobStatus.FAILED, JobStatus.TIMEOUT)
#: The statuses whose latest job each slot shows: its last success and its last error.
_SHOWN_STATUSES = (JobStatus.DONE, *_ERROR_STATUSES)


@dataclass
class _Counts:
    jobs: int = 0
    timeouts: int = 0
    provider_errors: int = 0
    test_runs: int = 0
    hash_provided: int = 0
    hash_matched: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def add(
        self, source: str, status: str, reason: str | None, provided: bool, matched: bool | None, n: int
    ) -> None:
        if source == UI_TEST:
            self.test_runs += n
            return
        self.jobs += n
        self.by_status[status] = self.by_status.get(status, 0) + n
        if status == JobStatus.TIMEOUT:
            self.timeouts += n
        elif status == JobStatus.FAILED and reason in PROVIDER_ERRORS:
            self.provider_errors += n
        if provided:
            self.hash_provided += n
            if matched:
                self.hash_matched += n

    def merge(self, other: _Counts) -> None:
        self.jobs += other.jobs
        self.timeouts += other.timeouts
        self.provider_errors += other.provider_errors
        self.test_runs += other.test_runs
        self.hash_provided += other.hash_provided
        self.hash_matched += other.hash_matched
        for status, n in other.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + n

    def hash_share(self) -> float | None:
        return round(self.hash_matched / self.hash_provided, 4) if self.hash_provided else None


def overview(
    window_minutes: int = DEFAULT_WINDOW_MINUTES, now: dt.datetime | None = None, slot_id: str | None = None
) -> dict[str, Any]:
    """The brief's JSON shape, with test-runs and booth-hash figures added.

    ``slot_id`` narrows the figures to one slot. After a reset (:mod:`.reset`)
    a slot's counters, its window included, start at the reset.
    """
    now = now or utcnow()
    resets = load_resets()
    roll_up_closed_days(now)
    listed = select(Slot).order_by(Slot.id)
    if slot_id is not None:
        listed = listed.where(Slot.id == slot_id)
    all_slots = list(db.session.execute(listed).scalars())
    since = now - dt.timedelta(minutes=window_minutes)
    per_slot, jobs_total = _counts(since, resets, [s.id for s in all_slots], every_slot=slot_id is None)
    system = _Counts()
    for counts in per_slot.values():
        system.merge(counts)

    stored = select(func.coalesce(func.sum(MediaObject.size_bytes), 0)).where(
        MediaObject.cleaned_at.is_(None)
    )
    if slot_id is not None:
        stored = stored.where(MediaObject.slot_id == slot_id)
    storage_bytes = db.session.execute(stored).scalar_one()

    slots = []
    latest = _latest_by_status([slot.id for slot in all_slots])
    for slot in all_slots:
        counts = per_slot.get(slot.id, _Counts())
        success = latest.get((slot.id, JobStatus.DONE))
        errors = [row for status in _ERROR_STATUSES if (row := latest.get((slot.id, status))) is not None]
        error = max(errors, key=lambda row: row.started_at, default=None)
        slots.append(
            {
                "slot_id": slot.id,
                "display_name": slot.display_name or slot.id,
                "is_active": slot.is_active,
                "provider": slot.provider,
                "jobs_last_window": counts.jobs,
                "timeouts_last_window": counts.timeouts,
                "provider_errors_last_window": counts.provider_errors,
                "last_success_at": iso_z(success.finished_at or success.started_at) if success else None,
                "last_error_reason": error.failure_reason if error else None,
                "last_error_at": iso_z(error.finished_at or error.started_at) if error else None,
                "test_runs_last_window": counts.test_runs,
                "hash_provided_last_window": counts.hash_provided,
                "hash_matched_last_window": counts.hash_matched,
                "counting_since": iso_z(start.at) if (start := resets.of(slot.id)) else None,
            }
        )
    return {
        "window_minutes": window_minutes,
        "generated_at": iso_z(now),
        "slot_id": slot_id,
        "counting_since": iso_z(reset.at) if (reset := resets.of(slot_id)) else None,
        "reset_by": reset.by if reset else None,
        "system": {
            "jobs_total": int(jobs_total),
            "jobs_last_window": system.jobs,
            "timeouts_last_window": system.timeouts,
            "provider_errors_last_window": system.provider_errors,
            "storage_usage_mb": round(int(storage_bytes) / (1024 * 1024), 1),
            "jobs_by_status_last_window": system.by_status,
            "test_runs_last_window": system.test_runs,
            "hash_provided_last_window": system.hash_provided,
            "hash_matched_last_window": system.hash_matched,
            # Share of booth hashes that matched the bytes: near 1.0 means
            # switching ingest_hash_mode to "strict" will not reject real photos.
            "hash_match_share": system.hash_share(),
        },
        "slots": slots,
    }


def _counts(
    since: dt.datetime, resets: Resets, slot_ids: list[str], every_slot: bool
) -> tuple[dict[str, _Counts], int]:
    """Each slot's window counts and the booth jobs of these slots since their counting start.

    Slots that count from the same moment share one roll-up read; without any
    reset the whole overview is one read, as ``jobs_total`` comes with it.
    """
    groups: dict[dt.datetime | None, set[str]] = {}
    for slot_id in slot_ids:
        reset = resets.of(slot_id)
        groups.setdefault(reset.at if reset else None, set()).add(slot_id)
    per_slot = {slot_id: _Counts() for slot_id in slot_ids}
    jobs_total = 0
    for start, members in groups.items():
        rows, total = window_counts(max(since, start) if start else since)
        for row_slot, source, status, reason, provided, matched, n in rows:
            if row_slot in members:
                per_slot[row_slot].add(source, status, reason, provided, matched, n)
        if start is None and every_slot and len(groups) == 1:
            jobs_total += total
        else:
            ever, _ = window_counts(start or _EPOCH)
            jobs_total += sum(
                n for row_slot, source, *_, n in ever if source != UI_TEST and row_slot in members
            )
    return per_slot, jobs_total


def _latest_by_status(slot_ids: list[str]) -> dict[tuple[str, str], Row[Any]]:
    """The latest booth job of each slot in each shown status, in one statement.

    Each branch is a probe of the ``(slot_id, status, started_at)`` index that
    stops at its first row. A query per slot and status class (30 round trips,
    and an ``IN`` over two statuses that the index cannot return in order) took
    two thirds of an overview at a million rows.
    """
    if not slot_ids:
        return {}
    rows = db.session.execute(_latest_statement(tuple(slot_ids))).all()
    return {(row.slot_id, row.status): row for row in rows}


@lru_cache(maxsize=4)
def _latest_statement(slot_ids: tuple[str, ...]) -> CompoundSelect:
    """Built once per set of slots: composing 45 branches costs more than running them."""
    probes = [
        select(
            JobHistory.slot_id,
            JobHistory.status,
            JobHistory.started_at,
            JobHistory.finished_at,
            JobHistory.failure_reason,
        )
        .where(JobHistory.slot_id == slot_id, JobHistory.status == status, JobHistory.source != UI_TEST)
        .order_by(JobHistory.started_at.desc())
        .limit(1)
        .subquery()
        for slot_id in slot_ids
        for status in _SHOWN_STATUSES
    ]
    return union_all(*(select(probe) for probe in probes))
