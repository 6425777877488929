"""``job_history`` rows (and their stored files) for tests that need jobs without running ingests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import Flask

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.media.storage import input_path, preview_path, result_path
from photochanger.models import JobHistory, JobStatus, MediaKind, MediaObject
from photochanger.runtime import services

HOUR = dt.timedelta(hours=1)


def job_row(
    slot_id: str = "slot-001",
    status: str = JobStatus.DONE,
    *,
    started: dt.datetime | None = None,
    minutes_ago: float = 1,
    **fields: Any,
) -> JobHistory:
    """A job with the columns every job has (``local`` provider, 48 s deadline);
    ``fields`` set or override the rest."""
    started = started or utcnow() - dt.timedelta(minutes=minutes_ago)
    values: dict[str, Any] = {
        "job_id": uuid.uuid4().hex,
        "slot_id": slot_id,
        "status": status,
        "provider_id": "local",
        "operation": "filter",
        "slot_version": 1,
        "started_at": started,
        "deadline_at": started + dt.timedelta(seconds=48),
    }
    values.update(fields)
    return JobHistory(**values)


def stored_result(app: Flask, slot_id: str, data: bytes, *, minutes_ago: float = 1, **kw: Any) -> str:
    """A done job of ``slot_id`` whose result file holds ``data``; returns its id."""
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)
    job = job_row(
        slot_id,
        "done",
        started=started,
        finished_at=started + dt.timedelta(seconds=2),
        result_mime="image/jpeg",
        result_expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        **kw,
    )
    job_id = job.job_id
    job.result_path = f"results/{slot_id}/{job_id}/payload.jpg"
    with app.app_context():
        services().store.write_atomic(job.result_path, data)
        db.session.add(job)
        db.session.commit()
    return job_id


def stored_media(
    kind: str,
    rel: str,
    job_id: str | None,
    slot_id: str | None,
    expires: dt.datetime | None,
    data: bytes = b"x" * 100,
) -> MediaObject:
    """A file written to the media store and its ``media_object`` row (added, not committed)."""
    services().store.write_atomic(rel, data)
    media = MediaObject(
        id=uuid.uuid4().hex,
        job_id=job_id,
        slot_id=slot_id,
        kind=kind,
        path=rel,
        mime="image/jpeg",
        size_bytes=len(data),
        expires_at=expires,
    )
    db.session.add(media)
    return media


def media_of(job_id: str, kind: str) -> MediaObject:
    """The job's one ``media_object`` row of ``kind``."""
    query = db.select(MediaObject).where(MediaObject.job_id == job_id, MediaObject.kind == kind)
    return db.session.execute(query).scalar_one()


def expire_row(job_id: str, kind: str) -> None:
    """Make the job's ``kind`` row say it expired an hour ago, whatever the job says."""
    media_of(job_id, kind).expires_at = utcnow() - HOUR
    db.session.commit()


def job_with_files(
    status: str = JobStatus.DONE,
    expires_in: dt.timedelta = -HOUR,
    slot_id: str = "slot-001",
    started: dt.datetime | None = None,
    deadline_in: dt.timedelta | None = None,
) -> str:
    """A committed job with an input file and (when done or running) a result folder
    with payload and preview, all expiring ``expires_in`` from now; its id."""
    now = utcnow()
    expires = now + expires_in
    job = job_row(slot_id, status, started=started or now - 2 * HOUR)
    if deadline_in is not None:
        job.deadline_at = now + deadline_in
    job_id = job.job_id
    db.session.add(job)
    stored_media(MediaKind.INPUT, input_path(slot_id, job_id, "jpg"), job_id, slot_id, expires)
    if status == JobStatus.DONE or status in JobStatus.RUNNING:
        rel = result_path(slot_id, job_id, "jpg")
        stored_media(MediaKind.RESULT, rel, job_id, slot_id, expires)
        services().store.write_atomic(preview_path(slot_id, job_id), b"webp")
        job.result_path = rel
        job.result_expires_at = expires
    db.session.commit()
    return job_id
