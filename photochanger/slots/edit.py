"""Slot configuration for admins: views, validated updates, gallery tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from photochanger.clock import iso_z, utcnow
from photochanger.config import HARD_UPLOAD_CAP_MB
from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.infra.lookup import by_url_id
from photochanger.jobs.shown import RECENT_RESULTS, recent_query
from photochanger.links import path_for, public_url
from photochanger.models import JobHistory, MediaKind, MediaObject, Slot, SlotTemplateMedia
from photochanger.providers.base import ProviderDriver
from photochanger.settings.store import RuntimeSettings
from photochanger.slots.catalog import new_gallery_token, validate_slot_settings
from photochanger.slots.chain import (
    MAX_FALLBACKS,
    chain_view,
    fallback_schema,
    provider_branches,
    step_properties,
    updated_chain,
)
from photochanger.validation import check, field_conflict, field_error

#: Roles a template image can play (DESIGN.md §6; the brief's slot_template_media).
MEDIA_KINDS = ("style", "base", "background", "overlay", "face", "reference")
MAX_TEMPLATES = 10


def ingest_url(base_url: str, slot_id: str) -> str:
    return public_url(base_url, "ingest.ingest", slot_id=slot_id)


def gallery_url(base_url: str, slot: Slot) -> str:
    return public_url(base_url, "public_gallery.slot_gallery", slot_id=slot.id, token=slot.gallery_token)


def get_slot(slot_id: str) -> Slot:
    slot = by_url_id(Slot, slot_id) if len(slot_id) <= 32 else None
    if slot is None:
        raise ApiError("slot_not_found", f"Слот {slot_id} не найден")
    return slot


def _last_job(slot_id: str) -> JobHistory | None:
    # (slot_id, started_at) index: one short backwards index scan per slot.
    query = select(JobHistory).where(JobHistory.slot_id == slot_id).order_by(JobHistory.started_at.desc())
    return db.session.execute(query.limit(1)).scalars().first()


def _job_brief(job: JobHistory | None) -> dict[str, Any] | None:
    if job is None:
        return None
    return {
        "job_id": job.job_id,
        "status": job.status,
        "source": job.source,
        "failure_reason": job.failure_reason,
        "started_at": iso_z(job.started_at),
        "duration_ms": job.duration_ms,
    }


def slot_summary(slot: Slot, base_url: str) -> dict[str, Any]:
    """One row of ``GET /api/slots``."""
    return {
        "id": slot.id,
        "display_name": slot.display_name,
        "provider": slot.provider,
        "operation": slot.operation,
        "is_active": slot.is_active,
        "version": slot.version,
        "size_limit_mb": slot.size_limit_mb,
        "template_count": len(slot.templates),
        "updated_at": iso_z(slot.updated_at),
        "updated_by": slot.updated_by,
        "ingest_url": ingest_url(base_url, slot.id),
        "gallery_token": slot.gallery_token,
        "gallery_url": gallery_url(base_url, slot),
        "last_job": _job_brief(_last_job(slot.id)),
    }


def list_slots(base_url: str) -> list[dict[str, Any]]:
    slots = db.session.execute(select(Slot).order_by(Slot.id)).scalars().all()
    return [slot_summary(s, base_url) for s in slots]


def template_view(binding: SlotTemplateMedia) -> dict[str, Any]:
    media = binding.media
    return {
        "media_object_id": media.id,
        "media_kind": binding.media_kind,
        "position": binding.position,
        "mime": media.mime,
        "size_bytes": media.size_bytes,
        "url": path_for("media_api.download_template_media", media_id=media.id),
    }


def driver_view(driver: ProviderDriver) -> dict[str, Any]:
    """What a UI needs to render a provider's form."""
    return {
        "title": driver.title,
        "needs_api_key": driver.needs_api_key,
        "key_optional": driver.key_optional,
        "input_urls": driver.input_urls,
        "max_templates": driver.max_templates,
        "secret_fields": list(driver.secret_fields),
        "operations": dict(driver.operations),
        # Test runs of these operations need no photo (the prompt makes the picture).
        "text_to_image_operations": sorted(driver.text_to_image_operations),
        "settings_schema": {op: driver.settings_schema(op) for op in driver.operations},
    }


def recent_results(slot: Slot, base_url: str, limit: int = RECENT_RESULTS) -> list[dict[str, Any]]:
    """The slot's last ``limit`` done jobs whose result is still kept."""
    query = recent_query(slot.id, utcnow(), limit)
    return [
        {
            "job_id": job.job_id,
            "source": job.source,
            "started_at": iso_z(job.started_at),
            "finished_at": iso_z(job.finished_at),
            "duration_ms": job.duration_ms,
            "result_mime": job.result_mime,
            "result_expires_at": iso_z(job.result_expires_at),
            "result_url": public_url(base_url, "public.download_result", job_id=job.job_id),
            "preview_url": path_for("slots_api.result_preview", slot_id=slot.id, job_id=job.job_id),
        }
        for job in db.session.execute(query).scalars()
    ]


def slot_detail(
    slot: Slot, base_url: str, drivers: Mapping[str, ProviderDriver], settings: RuntimeSettings
) -> dict[str, Any]:
    """``GET /api/slots/{id}``: full configuration plus what a form needs."""
    out = slot_summary(slot, base_url)
    out.update(
        {
            "settings": dict(slot.settings_json or {}),
            "sync_response_seconds": settings.sync_response_seconds,
            "upload_limit_mb": min(settings.upload_limit_mb, slot.size_limit_mb or HARD_UPLOAD_CAP_MB),
            "template_media": [template_view(t) for t in slot.templates],
            "recent_results": recent_results(slot, base_url),
            "providers": {name: driver_view(d) for name, d in drivers.items()},
            "media_kinds": list(MEDIA_KINDS),
            **chain_view(slot.chain_json),
        }
    )
    return out


def update_schema(drivers: Mapping[str, ProviderDriver], *, combos: bool = True) -> dict[str, Any]:
    """Shape of a ``PUT /api/slots/{id}`` body; every field is optional.

    The contract publishes it whole. The server checks it with ``combos=False`` and the provider's
    operations and template count in :func:`update_slot`, so its answer names the field.
    """
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **step_properties(drivers),
            "display_name": {"type": "string", "minLength": 1, "maxLength": 200},
            "is_active": {"type": "boolean"},
            "size_limit_mb": {"type": ["integer", "null"], "minimum": 1, "maximum": HARD_UPLOAD_CAP_MB},
            "sync_response_seconds": {"type": "integer"},
            "template_media": {
                "type": "array",
                "maxItems": MAX_TEMPLATES,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["media_object_id"],
                    "properties": {
                        "media_kind": {"type": "string", "enum": list(MEDIA_KINDS)},
                        "media_object_id": {"type": "string", "minLength": 1, "maxLength": 32},
                    },
                },
            },
            "fallbacks": {
                "type": "array",
                "maxItems": MAX_FALLBACKS,
                "items": fallback_schema(drivers, combos=combos),
            },
            "version": {"type": "integer"},
        },
    }
    if not combos:
        return schema
    # Without ``provider`` the slot's own decides: a mismatch is a 409 conflict, not a malformed body.
    return {
        **schema,
        "anyOf": [{"not": {"required": ["provider"]}}, *provider_branches(drivers, templates=True)],
    }


def update_slot(
    slot: Slot,
    body: Mapping[str, Any],
    drivers: Mapping[str, ProviderDriver],
    settings: RuntimeSettings,
    admin: str,
) -> bool:
    """Apply a validated PUT body; ``version`` increments when anything changed.

    Omitted fields keep their values, the chain's too (``retry``, ``time_share``,
    ``fallbacks``: :mod:`photochanger.slots.chain`). Changing provider or operation without
    sending ``settings`` starts from the new schema's defaults and keeps the
    old values the new schema also knows (a prompt survives a provider switch).
    Returns whether the slot changed (the caller commits).
    """
    check(update_schema(drivers, combos=False), body)
    if "version" in body and body["version"] != slot.version:
        raise ApiError("version_conflict", extra={"field": "version", "current_version": slot.version})
    sync = body.get("sync_response_seconds")
    if sync is not None and sync != settings.sync_response_seconds:
        raise field_conflict(
            "sync_response_seconds",
            "таймаут общий для всех слотов и меняется в глобальных настройках (PUT /api/settings)",
        )

    provider = str(body.get("provider", slot.provider))
    driver = drivers[provider]
    default_op = slot.operation if provider == slot.provider else next(iter(driver.operations))
    operation = str(body.get("operation", default_op))
    if operation not in driver.operations:
        allowed = ", ".join(driver.operations)
        raise _refused(
            body,
            "operation",
            f"операция «{operation}» не поддерживается провайдером {provider}; допустимы: {allowed}",
        )

    old_settings = dict(slot.settings_json or {})
    if "settings" in body:
        new_settings = {**driver.default_settings(operation), **body["settings"]}
    elif (provider, operation) != (slot.provider, slot.operation):
        known = driver.settings_schema(operation).get("properties", {})
        kept = {k: v for k, v in old_settings.items() if k in known}
        new_settings = {**driver.default_settings(operation), **kept}
    else:
        new_settings = old_settings
    problems = validate_slot_settings(driver, operation, new_settings)
    if problems:
        # Re-check for the most precise path ("settings.prompt", not "settings").
        check(driver.settings_schema(operation), new_settings, prefix="settings")
        raise field_error(problems[0].field, problems[0].message)

    templates = _resolve_templates(slot, body, driver)
    if templates is None and driver.max_templates is not None and len(slot.templates) > driver.max_templates:
        raise field_conflict(
            "template_media",
            f"провайдер {provider} принимает не больше {driver.max_templates} шаблон(а); уберите лишние",
        )

    chain = updated_chain(slot.chain_json, body, drivers)

    before = _snapshot(slot)
    slot.provider, slot.operation, slot.settings_json = provider, operation, new_settings
    slot.chain_json = chain or None
    for name in ("display_name", "is_active", "size_limit_mb"):
        if name in body:
            setattr(slot, name, body[name].strip() if name == "display_name" else body[name])
    if templates is not None:
        slot.templates = [
            SlotTemplateMedia(media_object_id=media_id, media_kind=kind, position=i)
            for i, (kind, media_id) in enumerate(templates)
        ]
    if _snapshot(slot) == before:
        return False
    touch(slot, admin)
    return True


def touch(slot: Slot, admin: str) -> None:
    """Record a configuration change: new version, who and when."""
    slot.version += 1
    slot.updated_at = utcnow()
    slot.updated_by = admin


def _snapshot(slot: Slot) -> tuple[Any, ...]:
    return (
        slot.display_name,
        slot.provider,
        slot.operation,
        dict(slot.settings_json or {}),
        dict(slot.chain_json or {}),
        slot.is_active,
        slot.size_limit_mb,
        [(t.media_kind, t.media_object_id) for t in slot.templates],
    )


def _refused(body: Mapping[str, Any], field: str, message: str) -> ApiError:
    """400 when the body names the provider it does not fit (the contract's schema says so too);
    409 when the slot's current provider is what it does not fit."""
    return (field_error if "provider" in body else field_conflict)(field, message)


def _resolve_templates(
    slot: Slot, body: Mapping[str, Any], driver: ProviderDriver
) -> list[tuple[str, str]] | None:
    items = body.get("template_media")
    if items is None:
        return None
    if driver.max_templates is not None and len(items) > driver.max_templates:
        raise _refused(
            body,
            "template_media",
            f"провайдер {driver.name} принимает не больше {driver.max_templates} шаблон(а)",
        )
    current = {t.media_object_id: t.media_kind for t in slot.templates}
    out = []
    for i, item in enumerate(items):
        media_id = item["media_object_id"]
        media = by_url_id(MediaObject, media_id)
        if (
            media is None
            or media.kind != MediaKind.TEMPLATE
            or media.cleaned_at is not None
            or media.slot_id != slot.id
        ):
            raise field_conflict(
                f"template_media[{i}].media_object_id",
                "шаблон не найден у этого слота: загрузите его через /api/template-media/register",
            )
        out.append((item.get("media_kind") or current.get(media_id) or MEDIA_KINDS[0], media_id))
    return out


def rotate_gallery_token(slot: Slot, admin: str) -> None:
    """New share token: old gallery links stop working (caller commits)."""
    slot.gallery_token = new_gallery_token()
    slot.updated_at = utcnow()
    slot.updated_by = admin
