"""Which expired media a clean-up run may remove, and the claims that make the
removal its own (see :mod:`photochanger.jobs.cleanup` for the rules)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import or_, select, update

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.jobs.recovery import STALE_AFTER
from photochanger.jobs.shown import live_result
from photochanger.models import JobHistory, JobStatus, MediaKind, MediaObject

#: Kinds with a TTL; templates live until an admin removes them.
EXPIRING_KINDS = (
    MediaKind.RESULT,
    MediaKind.PREVIEW,
    MediaKind.INPUT,
    MediaKind.PROVIDER_MEDIA,
    MediaKind.TEMP,
)
#: Kinds a page shows: they stay while their job's result is live.
SHOWN_KINDS = (MediaKind.RESULT, MediaKind.PREVIEW)
_RUNNING, _LIVE = "running", "live"


class Claimed(NamedTuple):
    """One batch's outcome: the rows this run removes, and why the others stay."""

    mine: list[MediaObject]
    running: int
    live: int
    taken: int  # claimed by a concurrent run


def expired_batch(
    now: dt.datetime, batch_size: int, skip: set[str], slot_id: str | None = None
) -> list[MediaObject]:
    """The oldest expired, unclaimed rows (of one slot, or of all), as plain values."""
    query = (
        select(MediaObject)
        .where(
            MediaObject.cleaned_at.is_(None),
            MediaObject.expires_at.is_not(None),
            MediaObject.expires_at <= now,
            MediaObject.kind.in_(EXPIRING_KINDS),
        )
        .order_by(MediaObject.expires_at, MediaObject.id)
        .limit(batch_size)
    )
    if slot_id is not None:
        query = query.where(MediaObject.slot_id == slot_id)
    if skip:
        query = query.where(MediaObject.id.not_in(skip))
    rows = list(db.session.execute(query).scalars())
    db.session.expunge_all()  # plain values from here on; each claim is its own transaction
    db.session.rollback()
    return rows


def claim_ready(rows: list[MediaObject], now: dt.datetime, skip: set[str]) -> Claimed:
    """Claim the batch's rows no job keeps; the ids of kept rows join ``skip``."""
    held = _held_jobs({m.job_id for m in rows if m.job_id}, now)
    ready: list[MediaObject] = []
    kept = {_RUNNING: 0, _LIVE: 0}
    for media in rows:
        why = _why_kept(media, held)
        if why is None:
            ready.append(media)
        else:
            kept[why] += 1
            skip.add(media.id)
    # One claiming UPDATE per batch instead of one per row: a run only
    # deletes the files of the rows its own UPDATE changed. Stamped with the
    # claim's own time, which tells other runs the removal may be under way.
    claimed = claim_batch([m.id for m in ready], utcnow())
    mine = [m for m in ready if m.id in claimed]
    return Claimed(mine, kept[_RUNNING], kept[_LIVE], len(ready) - len(mine))


def _why_kept(media: MediaObject, held: dict[str, tuple[str, str]]) -> str | None:
    """Why an expired row stays: its job runs, or it is a result a page may show."""
    _, why = held.get(media.job_id or "", ("", None))
    return why if why == _RUNNING or media.kind in SHOWN_KINDS else None


def folders_to_keep(folders: Iterable[tuple[str, str]], now: dt.datetime) -> set[tuple[str, str]]:
    """The ``(slot_id, job_id)`` result folders that are no orphans: their job keeps
    them, or a result row does (its claim removes the folder, now or once it expires)."""
    job_ids = {job_id for _, job_id in folders}
    if not job_ids:
        return set()
    kept = {(slot_id, job_id) for job_id, (slot_id, _) in _held_jobs(job_ids, now).items()}
    # A row claimed a moment ago: another run may be removing its folder right now.
    recent = now - STALE_AFTER
    rows = db.session.execute(
        select(MediaObject.slot_id, MediaObject.job_id).where(
            MediaObject.job_id.in_(job_ids),
            MediaObject.kind == MediaKind.RESULT,
            or_(MediaObject.cleaned_at.is_(None), MediaObject.cleaned_at > recent),
        )
    ).all()
    db.session.rollback()
    return kept | {(slot_id, job_id) for slot_id, job_id in rows if slot_id and job_id}


def _held_jobs(job_ids: set[str], now: dt.datetime) -> dict[str, tuple[str, str]]:
    """``job_id -> (slot_id, why)`` for the jobs whose files stay: ``"running"`` (it
    may still write them: running and within its deadline) or ``"live"`` (done,
    and within its TTL)."""
    if not job_ids:
        return {}
    rows = db.session.execute(
        select(
            JobHistory.job_id,
            JobHistory.slot_id,
            JobHistory.status,
            JobHistory.deadline_at,
            JobHistory.started_at,
        ).where(
            JobHistory.job_id.in_(job_ids),
            or_(JobHistory.status.in_(JobStatus.RUNNING), live_result(now)),
        )
    ).all()
    db.session.rollback()
    held: dict[str, tuple[str, str]] = {}
    for job_id, slot_id, status, deadline, started in rows:
        if status == JobStatus.DONE:
            held[job_id] = (slot_id, _LIVE)
        elif (deadline or started + STALE_AFTER) > now:
            held[job_id] = (slot_id, _RUNNING)
    return held


def claim_batch(media_ids: list[str], now: dt.datetime) -> set[str]:
    """Mark rows cleaned; returns the ids this run's UPDATE changed (not another run's)."""
    if not media_ids:
        return set()
    result = db.session.execute(
        update(MediaObject)
        .where(MediaObject.id.in_(media_ids), MediaObject.cleaned_at.is_(None))
        .values(cleaned_at=now)
        .returning(MediaObject.id)
        .execution_options(synchronize_session=False)
    )
    claimed = {row[0] for row in result}
    db.session.commit()
    return claimed


def release_claims(media_ids: list[str]) -> None:
    """Give back rows whose files could not be removed, so a later run claims them again."""
    if media_ids:
        db.session.execute(
            update(MediaObject)
            .where(MediaObject.id.in_(media_ids))
            .values(cleaned_at=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def claim(media_id: str, now: dt.datetime) -> bool:
    """Mark one media row cleaned; ``True`` only for the run whose update changed it."""
    return media_id in claim_batch([media_id], now)
