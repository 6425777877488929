"""``job_history`` rows for tests that need jobs without running ingests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import Flask

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.models import JobHistory, JobStatus
from photochanger.runtime import services


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
