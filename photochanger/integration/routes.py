"""The integration API under ``/api/v1``, authenticated by ``X-API-Key`` (docs/integration-api.md)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from photochanger.auth.api_keys import Caller, current_caller, require_api_key
from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.infra.caching import no_store
from photochanger.ingest.intake import upload_limit_mb
from photochanger.integration import batch_form, webhooks
from photochanger.integration.batches import batch_tasks, batch_view, owned_batch, results_zip
from photochanger.integration.multipart import multipart_form
from photochanger.integration.runner import wake_runner
from photochanger.integration.tasks import new_task, owned_task, task_view
from photochanger.links import path_for, public_base_url
from photochanger.media.upload import FILE_FIELDS, read_upload
from photochanger.models import TaskStatus
from photochanger.runtime import services
from photochanger.validation import field_error, json_body

bp = Blueprint("integration", __name__, url_prefix="/api/v1")
bp.before_request(require_api_key)

#: Fields a photo job's form may carry besides the file.
PHOTO_FIELDS = ("photo", *FILE_FIELDS)
PROMPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "slot_id": {"type": "string", "minLength": 1, "maxLength": 32},
        "prompt": {"type": "string", "minLength": 1, "maxLength": 4000, "pattern": "\\S"},
        "webhook_url": {"type": "string", "minLength": 1, "maxLength": webhooks.MAX_URL},
    },
    "required": ["slot_id", "prompt"],
    "additionalProperties": False,
}


@bp.get("/key")
def whoami() -> Response:
    """The calling key's name and the slots it may use (a cheap check that a key works)."""
    caller = current_caller()
    slots = list(caller.slot_ids) if caller.slot_ids is not None else None
    return no_store(jsonify({"key_id": caller.key_id, "name": caller.name, "slot_ids": slots}))


def _webhook(caller: Caller, value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise field_error("webhook_url", "ожидается строка")
    url = webhooks.check_url(value)
    if caller.key_id is None:  # a webhook is signed with its key's secret: an admin has none
        raise ApiError("forbidden", "Вебхук подписывается секретом ключа API: отправьте задание с ключом")
    return url


@bp.post("/jobs")
def submit_job() -> tuple[Response, int]:
    """Queue a photo (multipart) or a prompt (JSON) for a slot; 202 with the job's id and status URL."""
    caller = current_caller()
    queued: dict[str, Any] = {}
    if request.is_json:
        body = json_body(PROMPT_SCHEMA)
        settings, slot = batch_form.slot_for(caller, body["slot_id"])
        driver = services().drivers.get(slot.provider)
        if driver is None or not driver.supports_text_to_image(slot.operation):
            raise ApiError("prompt_not_supported")
        webhook = _webhook(caller, body.get("webhook_url"))
        queued["prompt"] = body["prompt"]
    else:
        form, files = multipart_form("Ожидается multipart/form-data с фото или JSON с промптом")
        settings, slot = batch_form.slot_for(caller, form.get("slot_id"))
        webhook = _webhook(caller, form.get("webhook_url"))
        file = next((files[name] for name in PHOTO_FIELDS if name in files), None)
        if file is None:
            raise field_error("photo", "не передан файл фото")
        limit_mb = upload_limit_mb(settings, slot)
        queued["upload"] = read_upload(file.stream, file.filename, limit_mb, settings.max_photo_megapixels)
    task = new_task(
        services().store,
        key_id=caller.key_id,
        slot_id=slot.id,
        base_url=public_base_url(),
        ttl=settings.result_ttl,
        webhook_url=webhook,
        **queued,
    )
    job_id = task.id
    db.session.commit()
    # The answer is what was queued: read after the commit, the row may already be the runner's.
    wake_runner()
    status_url = public_base_url().rstrip("/") + path_for("integration.job_status", job_id=job_id)
    resp = jsonify({"job_id": job_id, "status": TaskStatus.QUEUED, "status_url": status_url})
    resp.headers["Location"] = status_url
    return no_store(resp), 202


@bp.get("/jobs/<job_id>")
def job_status(job_id: str) -> Response:
    """The job's status, attempts and result link (404 for another key's job)."""
    task = owned_task(job_id, current_caller().key_id)
    if task is None:
        raise ApiError("job_not_found")
    return no_store(jsonify(task_view(task, public_base_url())))


@bp.post("/batches")
def submit_batch() -> tuple[Response, int]:
    """Queue the photos of a ZIP and/or of ``photos`` parts for a slot; 202 with status and results URLs."""
    endpoints = ("integration.batch_status", "integration.batch_results")
    return batch_form.submit_batch(current_caller(), endpoints)


def _own_batch(batch_id: str) -> Any:
    batch = owned_batch(batch_id, current_caller().key_id)
    if batch is None:
        raise ApiError("not_found", "Пакет не найден")
    return batch


@bp.get("/batches/<batch_id>")
def batch_status(batch_id: str) -> Response:
    """Progress: counts by status and each photo's status and result link."""
    batch = _own_batch(batch_id)
    return no_store(jsonify(batch_view(batch, batch_tasks(batch.id), public_base_url())))


@bp.get("/batches/<batch_id>/results.zip")
def batch_results(batch_id: str) -> Response:
    """The results so far and manifest.json, as one streamed ZIP."""
    batch = _own_batch(batch_id)
    return results_response(batch.id)


def results_response(batch_id: str) -> Response:
    """A batch's results ZIP as an attachment, streamed with its exact Content-Length."""
    archive = results_zip(services().store, batch_tasks(batch_id), public_base_url())
    resp = Response(iter(archive), mimetype="application/zip")
    resp.headers["Content-Length"] = str(len(archive))
    resp.headers["Content-Disposition"] = f'attachment; filename="batch-{batch_id[:8]}.zip"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
