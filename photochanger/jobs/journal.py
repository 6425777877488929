"""A slot's journal: its recent jobs, newest first, for admins («Открыть лог»).

Pages are read by a cursor (the last row's ``started_at`` and ``job_id``), so a
page stays stable while new jobs arrive and costs an index range read of
``ix_job_slot_started`` however deep the admin pages.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select

from photochanger.clock import iso_z, utcnow
from photochanger.extensions import db
from photochanger.models import JobHistory, JobStatus, MediaKind, MediaObject

#: The statuses an admin can filter by.
STATUSES = (JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.DONE, JobStatus.FAILED, JobStatus.TIMEOUT)
PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


#: The cursor's spelling (the contract publishes it): microseconds since the epoch, ``~``, a job id;
#: empty means the first page. Sixteen digits stay below the year 2287, so every such string decodes.
CURSOR_PATTERN = re.compile(r"^([0-9]{1,16}~[0-9a-f]{1,32})?$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: strictly older than this job."""

    started_at: dt.datetime
    job_id: str

    def encode(self) -> str:
        return f"{(self.started_at - _EPOCH) // _MICROSECOND}~{self.job_id}"

    @classmethod
    def decode(cls, raw: str) -> Cursor:
        """Raises ``ValueError`` for a string not of :data:`CURSOR_PATTERN`'s shape."""
        if not raw or CURSOR_PATTERN.fullmatch(raw) is None:
            raise ValueError(raw)
        micros, _, job_id = raw.partition("~")
        return cls(_EPOCH + int(micros) * _MICROSECOND, job_id)


def journal_page(
    slot_id: str, status: str | None, after: Cursor | None, limit: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page of the slot's jobs and the cursor of the next page (``None`` at the end)."""
    query = select(JobHistory).where(JobHistory.slot_id == slot_id)
    if status is not None:
        query = query.where(JobHistory.status == status)
    if after is not None:
        query = query.where(
            or_(
                JobHistory.started_at < after.started_at,
                and_(JobHistory.started_at == after.started_at, JobHistory.job_id < after.job_id),
            )
        )
    query = query.order_by(JobHistory.started_at.desc(), JobHistory.job_id.desc()).limit(limit + 1)
    jobs = list(db.session.execute(query).scalars())
    more = len(jobs) > limit
    jobs = jobs[:limit]
    kept_inputs = _kept_inputs([job.job_id for job in jobs])
    now = utcnow()
    rows = [_entry(job, job.job_id in kept_inputs, now) for job in jobs]
    cursor = Cursor(jobs[-1].started_at, jobs[-1].job_id) if more else None
    return rows, cursor


def input_row(slot_id: str, job_id: str) -> MediaObject | None:
    """The job's input photo row, kept or already removed (``cleaned_at``); ``None`` if it never had one."""
    return db.session.execute(
        select(MediaObject).where(
            MediaObject.job_id == job_id,
            MediaObject.slot_id == slot_id,
            MediaObject.kind == MediaKind.INPUT,
        )
    ).scalar_one_or_none()


def _kept_inputs(job_ids: list[str]) -> set[str]:
    if not job_ids:
        return set()
    query = select(MediaObject.job_id).where(
        MediaObject.job_id.in_(job_ids), MediaObject.kind == MediaKind.INPUT, MediaObject.cleaned_at.is_(None)
    )
    return {str(job_id) for job_id in db.session.execute(query).scalars()}


def _entry(job: JobHistory, input_kept: bool, now: dt.datetime) -> dict[str, Any]:
    result_live = bool(job.result_path) and (job.result_expires_at is None or job.result_expires_at > now)
    return {
        "job_id": job.job_id,
        "started_at": iso_z(job.started_at),
        "finished_at": iso_z(job.finished_at),
        "source": job.source,
        "status": job.status,
        "failure_reason": job.failure_reason,
        "provider": job.provider_id,
        "operation": job.operation,
        "attempts": job.provider_attempts,
        "attempt_log": list(job.attempts_json or []),
        "answered_step": job.answered_step,
        "duration_ms": job.duration_ms,
        "input_size": job.input_size,
        "input_mime": job.input_mime,
        "hash_provided": job.hash_provided,
        "hash_matched": job.hash_matched,
        "result_live": result_live,
        "input_kept": input_kept,
    }
