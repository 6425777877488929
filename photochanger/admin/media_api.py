"""Admin API for media: slot template images and temporary test photos."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, jsonify, request

from photochanger.admin.files import media_file
from photochanger.admin.uploads import form_file, required_image
from photochanger.auth.session import current_admin, require_admin
from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.infra.caching import no_store
from photochanger.jobs.cleanup import cleanup_media
from photochanger.links import public_base_url
from photochanger.models import MediaKind
from photochanger.runtime import services
from photochanger.settings.store import load_settings
from photochanger.slots import edit as slot_edit
from photochanger.slots.media import (
    delete_template,
    get_media,
    media_view,
    provider_link_view,
    publish_provider_link,
    register_temp,
    register_template,
)
from photochanger.validation import field_error

bp = Blueprint("media_api", __name__, url_prefix="/api")
bp.before_request(require_admin)


#: How long an admin's provider-media link opens: a job's (its deadline, 10–60 s) is too short to
#: carry the URL to another network or paste it into a provider's console.
PROVIDER_LINK_LIFETIME = dt.timedelta(minutes=10)

#: Batches one click of «Очистить кеш медиа» removes at most; the cron does the rest.
CLEANUP_BATCHES = 20


@bp.post("/media/cleanup")
def cleanup_all() -> Response:
    """Remove every slot's expired media now, by the cron's rules (one bounded run)."""
    summary = cleanup_media(services().store, max_batches=CLEANUP_BATCHES)
    resp = jsonify(summary.report(CLEANUP_BATCHES))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/template-media/register")
def register_template_media() -> Response:
    """Multipart ``file`` + ``slot_id`` + ``media_kind``: store and bind a template image."""
    form_file("file")  # a broken multipart body answers 400 before the fields are read
    slot_id = request.form.get("slot_id")
    if not slot_id:
        raise ApiError("bad_request", "Поле «slot_id» обязательно", extra={"field": "slot_id"})
    slot = slot_edit.get_slot(slot_id)  # taken as sent, like the contract's pattern: "" or " slot-001" is 404
    media_kind = request.form.get("media_kind", slot_edit.MEDIA_KINDS[0])
    upload = required_image("file")
    svc = services()
    media, binding = register_template(
        svc.store, slot, svc.drivers.get(slot.provider), upload, media_kind, current_admin()
    )
    db.session.commit()
    body = {
        **media_view(media),
        "media_kind": binding.media_kind,
        "position": binding.position,
        "slot_version": slot.version,
    }
    resp = jsonify(body)
    resp.status_code = 201
    return resp


@bp.delete("/template-media/<hexid:media_id>")
def delete_template_media(media_id: str) -> Response:
    """Unbind the template from its slot and remove the file."""
    media = get_media(media_id, MediaKind.TEMPLATE)
    slots = delete_template(services().store, media, current_admin())
    db.session.commit()
    return jsonify({"status": "ok", "deleted": media_id, "slots": slots})


@bp.get("/template-media/<hexid:media_id>")
def download_template_media(media_id: str) -> Response:
    return _file(get_media(media_id, MediaKind.TEMPLATE).id, MediaKind.TEMPLATE)


@bp.post("/media/register")
def register_media() -> Response:
    """Multipart ``file`` (optional ``slot_id``): a temporary upload, e.g. a test photo.

    It expires after ``result_ttl_hours`` like results do.
    """
    upload = required_image("file")
    slot_id = request.form.get("slot_id")
    if slot_id == "":  # the contract's pattern refuses it: not taken for "no slot"
        raise field_error("slot_id", "ожидается id слота (slot-001 … slot-015)")
    if slot_id is not None:
        slot_edit.get_slot(slot_id)
    media = register_temp(services().store, upload, slot_id, load_settings().result_ttl)
    db.session.commit()
    resp = jsonify(media_view(media))
    resp.status_code = 201
    return resp


@bp.get("/media/<hexid:media_id>")
def download_media(media_id: str) -> Response:
    return _file(media_id, MediaKind.TEMP)


@bp.post("/media/<media_id>/provider-link")
def provider_link(media_id: str) -> Response:
    """Publish a registered image (test photo or template) at a provider-media URL.

    An admin can then check that providers reach PUBLIC_BASE_URL (NAT, nginx) before a
    booth needs it; the link ends after :data:`PROVIDER_LINK_LIFETIME`.
    """
    source = get_media(media_id, MediaKind.TEMP, MediaKind.TEMPLATE)
    link = publish_provider_link(services().store, source, PROVIDER_LINK_LIFETIME)
    db.session.commit()
    resp = no_store(jsonify(provider_link_view(link, source, public_base_url())))
    resp.status_code = 201
    return resp


def _file(media_id: str, kind: str) -> Response:
    # Admin-only content: browsers may cache it, shared caches must not.
    return media_file(get_media(media_id, kind), "private, max-age=300", "Файл не найден или уже удалён")
