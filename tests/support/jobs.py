"""``job_history`` rows for tests that need jobs without running ingests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from photochanger.clock import utcnow
from photochanger.models import JobHistory, JobStatus


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
