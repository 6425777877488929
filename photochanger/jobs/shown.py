"""Which of a slot's results some page shows with a preview.

The guest gallery shows a slot's newest live results, admin test runs left
out; the admin's slot page lists the newest live results of any source. A
result outside both lists is never shown as a preview again (results only
get older), so building its preview would be wasted: a burst of a thousand
ingests would spend ~30 ms of CPU on each of them for the 150 any page shows.
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
#: Admin test runs are not shown to guests.
HIDDEN_SOURCES = ("ui_test",)


def live_result(now: dt.datetime) -> ColumnElement[bool]:
    """A done job whose result is within its TTL: both pages show only these, and
    clean-up never removes one."""
    return and_(JobHistory.status == JobStatus.DONE, JobHistory.result_expires_at > now)


def gallery_query(slot_id: str, now: dt.datetime) -> Select[JobHistory]:
    """The guest gallery's results, newest first."""
    return (
        select(JobHistory)
        .where(
            JobHistory.slot_id == slot_id,
            live_result(now),
            JobHistory.result_path.is_not(None),
            JobHistory.source.not_in(HIDDEN_SOURCES),
        )
        .order_by(JobHistory.finished_at.desc(), JobHistory.started_at.desc())
        .limit(GALLERY_SIZE)
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
