"""Per-provider success rate and latency over a window (the stats page's provider table).

Read from the raw rows of the window, not the day roll-ups, because latency
needs each job's duration; the page asks for it separately from the overview
so the overview stays a roll-up read at any table size.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import select

from photochanger.extensions import db
from photochanger.models import JobHistory, JobStatus
from photochanger.stats.rollup import UI_TEST

#: Finished booth jobs: what a success rate is a share of.
_FINISHED = (JobStatus.DONE, JobStatus.FAILED, JobStatus.TIMEOUT)


def provider_stats(since: dt.datetime, slot_id: str | None = None) -> list[dict[str, Any]]:
    """One row per provider that finished a booth job since ``since``, by provider name."""
    query = select(JobHistory.provider_id, JobHistory.status, JobHistory.duration_ms).where(
        JobHistory.started_at >= since,
        JobHistory.source != UI_TEST,
        JobHistory.status.in_(_FINISHED),
    )
    if slot_id is not None:
        query = query.where(JobHistory.slot_id == slot_id)
    finished: dict[str, int] = {}
    durations: dict[str, list[int]] = {}
    for provider, status, duration_ms in db.session.execute(query):
        finished[provider] = finished.get(provider, 0) + 1
        done = durations.setdefault(provider, [])
        if status == JobStatus.DONE and duration_ms is not None:
            done.append(int(duration_ms))
    rows = []
    for provider in sorted(finished):
        done = sorted(durations[provider])
        rows.append(
            {
                "provider": provider,
                "jobs": finished[provider],
                "succeeded": len(done),
                "success_rate": round(len(done) / finished[provider], 4),
                "latency_p50_ms": percentile(done, 0.50),
                "latency_p95_ms": percentile(done, 0.95),
            }
        )
    return rows


def percentile(ordered: list[int], q: float) -> int | None:
    """Nearest-rank percentile of an ascending list (``None`` when empty)."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
