"""Admin API for slots: list, view, update, test-run, clean-up, gallery token."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import time
import uuid
from typing import Any

from flask import Blueprint, Response, jsonify, request

from photochanger.admin.uploads import form_file
from photochanger.auth.session import current_admin, require_admin
from photochanger.clock import utcnow
from photochanger.config import HARD_UPLOAD_CAP_MB
from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.infra.background import in_thread, when_idle
from photochanger.infra.first_byte import ARRIVAL_KEY
from photochanger.infra.lookup import MAX_ID_LENGTH, by_url_id
from photochanger.ingest.responses import image_response
from photochanger.ingest.service import IngestRequest, IngestService
from photochanger.jobs.cleanup import cleanup_media
from photochanger.links import public_base_url, result_page_url
from photochanger.media import qr
from photochanger.media.storage import preview_path
from photochanger.media.upload import Upload, read_upload
from photochanger.models import JobHistory, JobStatus, MediaKind, Slot
from photochanger.runtime import services
from photochanger.settings.store import RuntimeSettings, load_settings
from photochanger.slots import edit as slot_edit
from photochanger.slots.media import get_media
from photochanger.slots.snapshot import SlotSnapshot
from photochanger.validation import NOT_BLANK, check, field_conflict, field_error, json_body

bp = Blueprint("slots_api", __name__, url_prefix="/api")
bp.before_request(require_admin)


def _no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/slots")
def list_slots() -> Response:
    return _no_store(jsonify({"slots": slot_edit.list_slots(public_base_url())}))


@bp.get("/slots/<slot_id>")
def get_slot(slot_id: str) -> Response:
    slot = slot_edit.get_slot(slot_id)
    body = slot_edit.slot_detail(slot, public_base_url(), services().drivers, load_settings())
    return _no_store(jsonify(body))


@bp.put("/slots/<slot_id>")
def put_slot(slot_id: str) -> Response:
    """Update a slot; settings are validated by the chosen driver's schema."""
    slot = slot_edit.get_slot(slot_id)
    body = json_body({"type": "object"})
    drivers = services().drivers
    settings = load_settings()
    slot_edit.update_slot(slot, body, drivers, settings, current_admin())
    db.session.commit()
    return _no_store(jsonify(slot_edit.slot_detail(slot, public_base_url(), drivers, settings)))


@bp.post("/slots/<slot_id>/test-run")
def test_run(slot_id: str) -> Response:
    """The ingest pipeline without the booth password; the job is ``source = "ui_test"``.

    Inactive slots can be tested too: admins check a configuration before
    switching it on. The photo is the multipart ``test_image`` or the
    ``media_id`` of a photo registered with ``POST /api/media/register``.
    A text-to-image slot takes no photo: its prompt, or this run's ``prompt``,
    makes the picture.
    """
    arrival = request.environ.get(ARRIVAL_KEY, time.monotonic())
    settings = load_settings()
    slot = slot_edit.get_slot(slot_id)
    snapshot = SlotSnapshot.of(slot)
    metadata: dict[str, Any] = {"requested_by": current_admin()}
    prompt = _run_prompt()
    driver = services().drivers.get(slot.provider)
    if driver is not None and driver.supports_text_to_image(slot.operation):
        upload = None
        if prompt is not None:
            snapshot = dataclasses.replace(snapshot, settings={**snapshot.settings, "prompt": prompt})
            metadata["prompt"] = prompt
    elif prompt is not None:
        raise field_conflict(
            "prompt", "промпт на один тест задаётся только для операции «Картинка по промпту»"
        )
    else:
        upload = _test_photo(slot, settings)
    req = IngestRequest(slot_id=slot.id, upload=upload, arrival=arrival, source="ui_test", metadata=metadata)
    service = IngestService(services(), settings, public_base_url(), when_idle)
    return image_response(service.run(snapshot, req))


#: Longest prompt of one text-to-image test run.
MAX_RUN_PROMPT = 4000


def _sent(name: str) -> tuple[bool, Any]:
    """Whether the request carries ``name`` (a form field or a JSON key, even ``null``), and its value."""
    body = request.get_json(silent=True)  # before ``request.form``, which would take the body's stream
    if name in request.form:
        return True, request.form[name]
    if isinstance(body, dict) and name in body:
        return True, body[name]
    return False, None


def _run_prompt() -> str | None:
    """This run's ``prompt`` (form field or JSON), or ``None`` when the request has none."""
    present, value = _sent("prompt")
    if not present:
        return None
    if not isinstance(value, str) or not re.search(NOT_BLANK, value):
        raise field_error("prompt", "ожидается непустая строка")
    if len(value) > MAX_RUN_PROMPT:
        raise field_error("prompt", f"не длиннее {MAX_RUN_PROMPT} символов")
    return value


@bp.post("/slots/<slot_id>/qr-preview")
def qr_preview(slot_id: str) -> Response:
    """The test photo with the QR code placed as the form's ``qr`` asks (else as saved).

    The code links to a result page of a fresh job id, as long as a real one:
    the preview has the size and place the booth's print will have.
    """
    settings = load_settings()
    slot = slot_edit.get_slot(slot_id)
    upload = _test_photo(slot, settings)
    options = _preview_options(slot.settings_json or {})
    url = result_page_url(public_base_url(), uuid.uuid4().hex)
    data = in_thread(qr.stamp, upload.data, upload.mime, url, options)()
    return _no_store(Response(data, mimetype=upload.mime))


def _preview_options(saved: dict[str, Any]) -> qr.QrOptions:
    raw = request.form.get("qr")
    try:
        value = json.loads(raw) if raw is not None else dict(saved.get("qr") or {})
    except ValueError:
        raise field_error("qr", "ожидается JSON-объект") from None
    check(qr.SETTINGS_SCHEMA, value, prefix="qr")
    return qr.QrOptions.from_values(value)


def _test_photo(slot: Slot, settings: RuntimeSettings) -> Upload:
    """The multipart ``test_image`` or a registered ``media_id``, within the slot's upload limit."""
    limit_mb = min(settings.upload_limit_mb, slot.size_limit_mb or HARD_UPLOAD_CAP_MB, HARD_UPLOAD_CAP_MB)
    max_megapixels = settings.max_photo_megapixels
    present, media_id = _sent("media_id")
    if present and not (isinstance(media_id, str) and 1 <= len(media_id) <= MAX_ID_LENGTH):
        raise field_error("media_id", f"ожидается id длиной от 1 до {MAX_ID_LENGTH} символов")
    file = form_file("test_image")
    if file is not None:
        return read_upload(file.stream, file.filename, limit_mb, max_megapixels)
    if not present:
        raise ApiError("bad_request", "Поле «test_image»: не передан файл", extra={"field": "test_image"})
    media = get_media(media_id, MediaKind.TEMP)
    try:
        data = services().store.read(media.path)
    except OSError:
        raise ApiError("not_found", "Файл не найден или уже удалён", extra={"field": "media_id"}) from None
    return read_upload(io.BytesIO(data), None, limit_mb, max_megapixels)


@bp.post("/slots/<slot_id>/cleanup")
def cleanup(slot_id: str) -> Response:
    """Remove this slot's expired media now, by the cron's rules (templates, live
    results and running jobs' files stay; a concurrent run never removes a file twice)."""
    slot_id = slot_edit.get_slot(slot_id).id
    summary = cleanup_media(services().store, slot_id=slot_id)
    return _no_store(jsonify(summary.slot_report(slot_id)))


@bp.post("/slots/<slot_id>/gallery-token")
def rotate_gallery_token(slot_id: str) -> Response:
    """A new share token: links and QR codes with the old one stop working."""
    slot = slot_edit.get_slot(slot_id)
    slot_edit.rotate_gallery_token(slot, current_admin())
    db.session.commit()
    body = {
        "slot_id": slot.id,
        "gallery_token": slot.gallery_token,
        "gallery_url": slot_edit.gallery_url(public_base_url(), slot),
    }
    return _no_store(jsonify(body))


@bp.get("/slots/<slot_id>/results/<job_id>/preview")
def result_preview(slot_id: str, job_id: str) -> Response:
    """A recent result's preview (the full image while the preview is not ready)."""
    job = by_url_id(JobHistory, job_id) if len(job_id) <= 32 else None
    if job is None or job.slot_id != slot_id or job.status != JobStatus.DONE or not job.result_path:
        raise ApiError("result_not_found")
    if job.result_expires_at is not None and job.result_expires_at <= utcnow():
        raise ApiError("result_expired")
    store = services().store
    try:
        data, mime = store.read(preview_path(slot_id, job_id)), "image/webp"
    except OSError:
        try:
            data, mime = store.read(job.result_path), job.result_mime or "image/jpeg"
        except OSError:
            raise ApiError("result_not_found") from None
    resp = Response(data, mimetype=mime)
    resp.headers["Cache-Control"] = "private, max-age=300"
    return resp
