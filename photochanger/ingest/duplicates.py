"""Idempotency: a repeated request gets the first one's result, never a second provider call.

With an ``Idempotency-Key`` the key decides; without one, the same photo for
the same slot version and source. A finished duplicate is replayed from its
stored result; a running one is waited for within this request's own deadline.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Protocol

import gevent

from photochanger.clock import utcnow
from photochanger.errors import REASONS, ApiError
from photochanger.ingest.ledger import Ledger, MatchRow
from photochanger.ingest.outcome import IngestRequest, IngestSuccess
from photochanger.media.storage import MediaStore
from photochanger.models import JobStatus
from photochanger.slots.snapshot import SlotSnapshot

log = logging.getLogger("photochanger.ingest")

_WAIT_POLL = 0.2


class _DoneJob(Protocol):
    """What a replay reads of a finished job (an ORM row or a Core row)."""

    job_id: str
    provider_id: str
    result_path: str | None
    result_mime: str | None


def find_duplicate(
    ledger: Ledger, ttl: dt.timedelta, slot: SlotSnapshot, req: IngestRequest
) -> MatchRow | None:
    """A done job whose result still lives, or one still running within its deadline.

    A request without a photo or a key (a text-to-image test run) is never a repeat:
    each one asks for a new picture.
    """
    if req.upload is None and req.idempotency_key is None:
        return None
    now = utcnow()
    matches = ledger.duplicates(
        slot.id,
        now - ttl,
        idempotency_key=req.idempotency_key,
        sha256=req.upload.sha256 if req.upload is not None else None,
        version=slot.version,
        source=req.source,
    )
    for job in matches:
        if job.status == JobStatus.DONE:
            if job.result_expires_at and job.result_expires_at > now:
                return job
        elif job.deadline_at and job.deadline_at > now:
            return job  # still running somewhere within its own deadline
    return None


def replay(store: MediaStore, job: _DoneJob) -> IngestSuccess | None:
    """The finished job's stored result as this request's answer (``None`` if it is gone)."""
    if not job.result_path:
        return None
    try:
        body, size = store.open(job.result_path)
    except OSError:
        return None
    log.info("ingest.replay", extra={"event": "ingest.replay", "job_id": job.job_id})
    mime = job.result_mime or "image/jpeg"
    return IngestSuccess(job.job_id, body, size, mime, replayed=True, provider=job.provider_id)


def await_duplicate(
    ledger: Ledger, store: MediaStore, job_id: str, deadline: float, timeout_message: str
) -> IngestSuccess:
    """Wait for the same request's running job within our own deadline."""
    while time.monotonic() < deadline:
        job = ledger.reread(job_id)
        if job is None:
            break
        if job.status == JobStatus.DONE:
            done = replay(store, job)
            if done is not None:
                return done
            break
        if job.status not in JobStatus.RUNNING:
            reason = job.failure_reason or "internal"
            raise ApiError(reason if reason in REASONS else "internal", job_id=job_id)
        ledger.abandon()  # no pooled connection held while waiting: a burst of replays would take them all
        gevent.sleep(min(_WAIT_POLL, max(0.0, deadline - time.monotonic())))
    raise ApiError("timeout", timeout_message, job_id=job_id)
