"""Booth-facing HTTP endpoints: ingest and job status."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from photochanger.auth.ingest_guard import require_ingest_password
from photochanger.clock import iso_z, utcnow
from photochanger.config import HARD_UPLOAD_CAP_MB, MB, MULTIPART_OVERHEAD
from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.infra.autocommit import autocommit
from photochanger.infra.background import ingest_in_flight, when_idle
from photochanger.infra.lookup import by_url_id
from photochanger.infra.request import ON_UPLOAD_KEY, HashingUpload
from photochanger.ingest.early_shrink import EarlyShrink
from photochanger.ingest.responses import ARRIVAL_KEY, image_response
from photochanger.ingest.service import IngestRequest, IngestService, result_url
from photochanger.links import public_base_url
from photochanger.media.spool import InputSpool
from photochanger.media.upload import FILE_FIELDS, read_upload
from photochanger.models import JobHistory
from photochanger.runtime import services
from photochanger.settings.store import RuntimeSettings, load_settings
from photochanger.slots.snapshot import SlotSnapshot, ingest_config

bp = Blueprint("ingest", __name__)

#: Fields never stored in job metadata.
_PRIVATE_FIELDS = {"password"}
_MAX_META_FIELDS = 64
_MAX_META_VALUE = 2000
_MAX_IDEMPOTENCY_KEY = 200


@bp.post("/api/ingest/<slot_id>")
@bp.post("/ingest/<slot_id>")
def ingest(slot_id: str) -> Response:
    """Accept a booth photo and answer with the processed image (DESIGN.md §3)."""
    with ingest_in_flight():
        return _ingest(slot_id)


def _ingest(slot_id: str) -> Response:
    arrival = request.environ.get(ARRIVAL_KEY, time.monotonic())
    autocommit()  # reads only: no BEGIN/COMMIT round trips around them
    settings, slot = ingest_config(slot_id)
    limit_mb = min(settings.upload_limit_mb, slot.size_limit_mb or HARD_UPLOAD_CAP_MB, HARD_UPLOAD_CAP_MB)
    if request.content_length and request.content_length > limit_mb * MB + MULTIPART_OVERHEAD:
        raise ApiError("payload_too_large", f"Файл больше допустимого размера: предел {limit_mb} МБ")
    _release_connection()  # before the body is read: a 20 MB upload over Wi-Fi takes seconds
    svc = services()
    early = EarlyShrink.for_upload(svc.drivers.get(slot.provider), slot.settings, request.content_length)
    spool = InputSpool(svc.store)
    request.environ[ON_UPLOAD_KEY] = partial(_follow_part, spool, early)
    try:
        return _take_upload(slot, settings, limit_mb, arrival, early, spool)
    finally:
        spool.discard()  # a no-op once the ingest kept it
        if early is not None:
            early.close()


def _follow_part(spool: InputSpool, early: EarlyShrink | None, part: HashingUpload) -> None:
    """A file part starts arriving: write it to disk and shrink it while it does."""
    if spool.attach(part):
        part.sink = spool
    if early is not None:
        early.attach(part.arriving)


def _take_upload(
    slot: SlotSnapshot,
    settings: RuntimeSettings,
    limit_mb: int,
    arrival: float,
    early: EarlyShrink | None,
    spool: InputSpool,
) -> Response:
    """Parse and check the upload, then run the pipeline.

    ``early`` may be shrinking the photo and ``spool`` writing it to disk
    while it arrives; both are used only if they followed the chosen part.
    """
    try:
        form, files = request.form, request.files
    except HTTPException:
        raise
    except Exception as exc:
        raise ApiError("bad_request", "Некорректное тело multipart/form-data") from exc
    if not request.mimetype.startswith("multipart/form-data"):
        raise ApiError("bad_request", "Ожидается multipart/form-data")

    require_ingest_password(form.get("password", ""), settings.ingest_password_hash)

    file = next((files[name] for name in FILE_FIELDS if name in files), None)
    if file is None:
        raise ApiError("bad_request", "Не передан файл: поле fileToUpload")
    upload = read_upload(file.stream, file.filename, limit_mb)

    hash_field = (form.get("hash") or "").strip().lower() or None
    hash_matched = None if hash_field is None else hash_field == upload.sha1
    if settings.ingest_hash_mode == "strict" and not hash_matched:
        message = "Поле hash не передано" if hash_field is None else None
        raise ApiError("hash_mismatch", message)
    if hash_field is not None and not hash_matched:
        current_app.logger.warning(
            "ingest.hash_mismatch", extra={"event": "ingest.hash_mismatch", "slot_id": slot.id}
        )

    key = (request.headers.get("Idempotency-Key") or "").strip() or None
    if key is not None and len(key) > _MAX_IDEMPOTENCY_KEY:
        raise ApiError("bad_request", f"Заголовок Idempotency-Key длиннее {_MAX_IDEMPOTENCY_KEY} символов")

    req = IngestRequest(
        slot_id=slot.id,
        upload=upload,
        arrival=arrival,
        source="ingest",
        hash_field=hash_field,
        hash_matched=hash_matched,
        idempotency_key=key,
        metadata=_metadata(form, upload.filename),
        early=early if early is not None and early.serves(file.stream) else None,
        spool=spool if spool.serves(file.stream) else None,
    )
    service = IngestService(services(), settings, public_base_url(), when_idle)
    return image_response(service.run(slot, req))


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


def _release_connection() -> None:
    """End the read-only transaction so no pooled connection waits on a slow upload.

    The settings and the slot are plain values (:mod:`photochanger.slots.snapshot`):
    nothing read above depends on the session any more.
    """
    db.session.commit()


def _metadata(form: Any, filename: str | None) -> dict[str, Any]:
    """Other text fields, kept as untrusted job metadata (never the password)."""
    meta: dict[str, Any] = {}
    for name in form:
        if name in _PRIVATE_FIELDS or len(meta) >= _MAX_META_FIELDS:
            continue
        meta[name[:100]] = str(form.get(name, ""))[:_MAX_META_VALUE]
    if filename:
        meta["_filename"] = filename[:255]
    return meta
