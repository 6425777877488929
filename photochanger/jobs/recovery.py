"""Job housekeeping: jobs left running by a crash never stay stuck."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, update

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.models import JobHistory, JobStatus

#: Longest possible deadline plus a margin: a job older than this is dead anywhere.
STALE_AFTER = dt.timedelta(seconds=90)


def mark_interrupted(host: str | None) -> int:
    """Mark as ``failed``/``interrupted`` the running jobs of this host, and every
    running job older than the longest deadline (whatever host ran it).

    Called at start-up, before any worker takes traffic; returns the count.
    """
    now = utcnow()
    conditions = [JobHistory.started_at < now - STALE_AFTER]
    if host:
        conditions.append(JobHistory.host == host)
    result = db.session.execute(
        update(JobHistory)
        .where(JobHistory.status.in_(JobStatus.RUNNING), or_(*conditions))
        .values(
            status=JobStatus.FAILED,
            failure_reason="interrupted",
            error_detail="server restarted while the job was running",
            finished_at=now,
        )
    )
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
