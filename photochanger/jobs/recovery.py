"""Job housekeeping: jobs left running by a crash never stay stuck.

A job belongs to a dead worker once its deadline has passed by
:data:`ORPHAN_MARGIN`: a live worker answers every job by its deadline
(the provider call is cut short at the deadline), so only a killed worker,
a frozen host or a lost database connection leaves one running past it.
The rule reads only the job row, so it holds across workers and hosts; the
margin covers storing the result and clock skew between hosts. A worker that
still finishes such a job afterwards records its true outcome over this one.

With Redis, a running job also has a heartbeat its worker renews
(:mod:`photochanger.infra.redis_leases`): once it lapses, any host's sweep
fails the job at once instead of waiting for the deadline and the margin.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from sqlalchemy import ColumnElement, and_, or_, select, update

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.models import JobHistory, JobStatus

#: Longest possible deadline plus a margin: a job older than this is dead anywhere.
STALE_AFTER = dt.timedelta(seconds=90)
#: Time past its deadline after which a running job has no live worker.
ORPHAN_MARGIN = dt.timedelta(seconds=30)


def mark_orphaned() -> int:
    """Mark as ``failed``/``interrupted`` running jobs past their deadline by the margin."""
    now = utcnow()
    return _interrupt(now, _orphaned(now), "no worker finished the job by its deadline")


def mark_lost(lapsed: Callable[[Iterable[str]], set[str]]) -> int:
    """Mark as ``failed``/``interrupted`` the running jobs whose heartbeat ``lapsed`` says stopped."""
    running = db.session.execute(
        select(JobHistory.job_id).where(JobHistory.status.in_(JobStatus.RUNNING))
    ).scalars()
    lost = lapsed(list(running))
    db.session.rollback()  # end the read: the update below is its own transaction
    if not lost:
        return 0
    detail = "the worker running the job stopped (its heartbeat lapsed)"
    return _interrupt(utcnow(), JobHistory.job_id.in_(sorted(lost)), detail)


def mark_interrupted(host: str | None) -> int:
    """Mark as ``failed``/``interrupted`` the running jobs of this host, and every orphaned job.

    Called at start-up, before any worker takes traffic, and by ``flask recover-jobs``.
    """
    now = utcnow()
    conditions = [_orphaned(now)]
    if host:
        conditions.append(JobHistory.host == host)
    return _interrupt(now, or_(*conditions), "server restarted while the job was running")


def _orphaned(now: dt.datetime) -> ColumnElement[bool]:
    return or_(
        JobHistory.deadline_at < now - ORPHAN_MARGIN,
        and_(JobHistory.deadline_at.is_(None), JobHistory.started_at < now - STALE_AFTER),
    )


def _interrupt(now: dt.datetime, condition: ColumnElement[bool], detail: str) -> int:
    result = db.session.execute(
        update(JobHistory)
        .where(JobHistory.status.in_(JobStatus.RUNNING), condition)
        .values(
            status=JobStatus.FAILED,
            failure_reason="interrupted",
            error_detail=detail,
            finished_at=now,
        )
    )
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
