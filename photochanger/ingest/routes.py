"""Booth-facing HTTP endpoints: ingest and job status."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from photochanger.auth.ingest_guard import ingest_admin
from photochanger.clock import iso_z, utcnow
from photochanger.errors import ApiError
from photochanger.infra.background import ingest_in_flight, when_idle
from photochanger.infra.body_guard import once_body_is_done
from photochanger.infra.first_byte import ARRIVAL_KEY
from photochanger.infra.lookup import by_url_id
from photochanger.ingest.arriving_uploads import ArrivingUploads
from photochanger.ingest.intake import Intake
from photochanger.ingest.ledger import Ledger
from photochanger.ingest.responses import image_response
from photochanger.ingest.service import IngestService
from photochanger.links import public_base_url, result_url
from photochanger.models import JobHistory
from photochanger.runtime import services
from photochanger.settings.store import load_settings
from photochanger.slots.snapshot import ingest_config

bp = Blueprint("ingest", __name__)


@bp.post("/api/ingest/<slot_id>")
@bp.post("/ingest/<slot_id>")
def ingest(slot_id: str) -> Response:
    """Accept a booth photo and answer with the processed image (DESIGN.md §3)."""
    arrival = request.environ.get(ARRIVAL_KEY, time.monotonic())
    # First: a client over its share of arriving uploads costs nothing more.
    arriving = ArrivingUploads.admit_request(request, services().lock_dir)
    try:
        with ingest_in_flight():
            Ledger().read_only()  # the settings and the slot: no BEGIN/COMMIT round trips around them
            settings, slot = ingest_config(slot_id)
            admin = ingest_admin()
            with Intake(request, slot, settings, services(), arrival, arriving, admin) as intake:
                req = intake.receive()
                service = IngestService(services(), settings, public_base_url(), when_idle)
                return image_response(service.run(slot, req))
    finally:
        # A body drained after an early answer still counts against its client's cap.
        once_body_is_done(request.environ, arriving.done)


@bp.get("/api/jobs/<job_id>")
def job_status(job_id: str) -> Response:
    """Status of a job while it is within the retention window."""
    job = by_url_id(JobHistory, job_id)
    settings = load_settings()
    now = utcnow()
    if job is None or job.started_at < now - settings.result_ttl:
        raise ApiError("job_not_found")
    expired = job.result_expires_at is not None and job.result_expires_at <= now
    if expired:
        raise ApiError("job_not_found")
    body: dict[str, Any] = {
        "job_id": job.job_id,
        "slot_id": job.slot_id,
        "status": job.status,
        "source": job.source,
        "provider": job.provider_id,
        "answered_step": job.answered_step,
        "attempt_log": list(job.attempts_json or []),
        "failure_reason": job.failure_reason,
        "started_at": iso_z(job.started_at),
        "finished_at": iso_z(job.finished_at),
        "duration_ms": job.duration_ms,
        "result_url": result_url(public_base_url(), job.job_id) if job.result_path else None,
        "result_expires_at": iso_z(job.result_expires_at),
    }
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp
