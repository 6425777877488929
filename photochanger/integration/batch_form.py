"""A batch request (``slot_id``, a ZIP ``archive`` and/or ``photos`` parts) read and queued.

One path for an API key's ``POST /api/v1/batches`` and an admin's
``POST /api/batches``: only the owner and the status link differ.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from photochanger.auth.api_keys import Caller
from photochanger.config import MB, MULTIPART_OVERHEAD
from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.infra.caching import no_store
from photochanger.infra.request import StrictRequest
from photochanger.ingest.intake import upload_limit_mb
from photochanger.integration.batch_photos import PhotoPart, batch_photos, is_blank
from photochanger.integration.batches import create_batch
from photochanger.integration.multipart import multipart_form
from photochanger.integration.runner import wake_runner
from photochanger.integration.zip_intake import BatchLimits
from photochanger.links import path_for, public_base_url
from photochanger.runtime import services
from photochanger.settings.store import RuntimeSettings
from photochanger.slots.snapshot import SlotSnapshot, ingest_config
from photochanger.validation import field_error

#: Part names of the ZIP, in order of preference (``file`` is the older alias).
ARCHIVE_FIELDS = ("archive", "file")
#: Parts a batch form may have besides its photos (``slot_id``, the ZIP, fields a client adds).
SPARE_PARTS = 16


def slot_for(caller: Caller, slot_id: Any) -> tuple[RuntimeSettings, SlotSnapshot]:
    """The settings and the active slot the caller may use: 400, 403 or 404 otherwise."""
    if not isinstance(slot_id, str) or not slot_id:
        raise field_error("slot_id", "не указан слот")
    caller.require_slot(slot_id)
    return ingest_config(slot_id)


def submit_batch(caller: Caller, endpoints: tuple[str, str]) -> tuple[Response, int]:
    """Check the whole request, store and queue its photos; 202 with the batch's id and links.

    ``endpoints`` name the status and results routes for the answer's links.
    A refused request stores nothing (docs/integration-api.md).
    """
    cfg = current_app.config
    cap = int(cfg["BATCH_MAX_ZIP_MB"]) * MB
    if (request.content_length or 0) > cap + MULTIPART_OVERHEAD:
        raise ApiError("zip_too_large", f"Пакет больше {cfg['BATCH_MAX_ZIP_MB']} МБ")
    max_files = int(cfg["BATCH_MAX_FILES"])
    strict = cast(StrictRequest, request)
    strict.max_content_length = cap + MULTIPART_OVERHEAD
    strict.spill_files_to_disk = True  # photos are read one by one, the request never held whole
    # Every file part is a temporary file: parsing stops well before they could exhaust descriptors.
    strict.max_form_parts = max_files + SPARE_PARTS
    try:
        form, files = multipart_form(
            "Ожидается multipart/form-data с ZIP-архивом (archive) и/или фото (photos)"
        )
    except RequestEntityTooLarge:
        raise ApiError(
            "zip_too_large", f"Пакет больше {cfg['BATCH_MAX_ZIP_MB']} МБ или в нём больше {max_files} фото"
        ) from None
    settings, slot = slot_for(caller, form.get("slot_id"))
    archive = next(
        (f for name in ARCHIVE_FIELDS for f in files.getlist(name) if not is_blank(f.filename, f.stream)),
        None,
    )
    parts = [
        PhotoPart(f.filename, f.stream) for f in files.getlist("photos") if not is_blank(f.filename, f.stream)
    ]
    if archive is None and not parts:
        raise field_error("photos", "не переданы фото: нужен ZIP-архив (archive) или файлы фото (photos)")
    limits = BatchLimits(max_files, int(cfg["BATCH_MAX_UNPACKED_MB"]) * MB)
    photos = batch_photos(archive.stream if archive is not None else None, parts, limits)
    batch = create_batch(
        services().store,
        photos,
        key_id=caller.key_id,
        created_by=caller.admin,
        slot_id=slot.id,
        base_url=public_base_url(),
        ttl=settings.result_ttl,
        photo_limit_mb=upload_limit_mb(settings, slot),
        max_megapixels=settings.max_photo_megapixels,
    )
    db.session.commit()
    wake_runner()
    base = public_base_url().rstrip("/")
    status_url = base + path_for(endpoints[0], batch_id=batch.id)
    body = {
        "batch_id": batch.id,
        "total": batch.total,
        "status_url": status_url,
        "results_url": base + path_for(endpoints[1], batch_id=batch.id),
    }
    resp = jsonify(body)
    resp.headers["Location"] = status_url
    return no_store(resp), 202
