"""Which of a slot's results some page shows with a preview.

The guest gallery shows a slot's newest live results, admin test runs and
integration API jobs left out; the admin's slot page lists the newest live results of any source. A
result outside both lists is never shown as a preview again (results only
get older), so building its preview would be wasted: in a burst most results
are never shown, and each preview costs a decode and an encode.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, Select, and_, select

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.models import JobHistory, JobStatus

#: How many live results the guest gallery of a slot shows.
GALLERY_SIZE = 10
#: How many results the admin's slot page lists.
RECENT_RESULTS = 10
#: Admin test runs, and partners' photos sent through the integration API, are not shown to guests.
HIDDEN_SOURCES = ("ui_test", "api")


def live_result(now: dt.datetime) -> ColumnElement[bool]:
    """A done job whose result is within its TTL: both pages show only these, and
    clean-up never removes one."""
    return and_(JobHistory.status == JobStatus.DONE, JobHistory.result_expires_at > now)


def gallery_query(slot_id: str, now: dt.datetime, *, with_hidden: bool = False) -> Select[JobHistory]:
    """The guest gallery's results: pinned ones first, then the newest.

    ``with_hidden`` keeps the results an admin hid, for the admin's own view.
    """
    query = select(JobHistory).where(
        JobHistory.slot_id == slot_id,
        live_result(now),
        JobHistory.result_path.is_not(None),
        JobHistory.source.not_in(HIDDEN_SOURCES),
    )
    if not with_hidden:
        query = query.where(JobHistory.hidden_at.is_(None))
    pinned_first = JobHistory.pinned_at.is_(None)  # False (pinned) sorts before True
    return query.order_by(
        pinned_first, JobHistory.pinned_at.desc(), JobHistory.finished_at.desc(), JobHistory.started_at.desc()
    ).limit(GALLERY_SIZE)


def live_results_query(slot_id: str, now: dt.datetime) -> Select[JobHistory]:
    """Every live guest-visible result of a slot, oldest first («Скачать все»)."""
    return (
        select(JobHistory)
        .where(
            JobHistory.slot_id == slot_id,
            live_result(now),
            JobHistory.result_path.is_not(None),
            JobHistory.source.not_in(HIDDEN_SOURCES),
            JobHistory.hidden_at.is_(None),
        )
        .order_by(JobHistory.started_at, JobHistory.job_id)
    )


def recent_query(slot_id: str, now: dt.datetime, limit: int = RECENT_RESULTS) -> Select[JobHistory]:
    """The admin's recent results of a slot, newest first."""
    return (
        select(JobHistory)
        .where(
            JobHistory.slot_id == slot_id,
            live_result(now),
        )
        .order_by(JobHistory.started_at.desc())
        .limit(limit)
    )


def is_shown(slot_id: str, job_id: str) -> bool:
    """Whether the guest gallery or the admin's slot page shows this result now."""
    now = utcnow()
    for query in (gallery_query(slot_id, now), recent_query(slot_id, now)):
        ids = query.with_only_columns(JobHistory.job_id)
        if job_id in db.session.execute(ids).scalars().all():
            return True
    return False
