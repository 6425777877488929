"""Admin-uploaded media: slot templates (kept until removed), temporary test photos, and
provider-media links to them an admin publishes to check that providers can fetch our URLs."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select

from photochanger.clock import iso_z, utcnow
from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.infra.lookup import by_url_id
from photochanger.links import path_for, provider_media_url
from photochanger.media.images import EXT_BY_MIME
from photochanger.media.storage import MediaStore, provider_media_path, template_path
from photochanger.media.upload import Upload
from photochanger.models import MediaKind, MediaObject, Slot, SlotTemplateMedia
from photochanger.providers.base import ProviderDriver
from photochanger.slots.edit import MEDIA_KINDS, touch
from photochanger.validation import field_error


def media_view(media: MediaObject) -> dict[str, object]:
    endpoint = (
        "media_api.download_template_media"
        if media.kind == MediaKind.TEMPLATE
        else "media_api.download_media"
    )
    return {
        "id": media.id,
        "media_object_id": media.id,
        "kind": media.kind,
        "slot_id": media.slot_id,
        "mime": media.mime,
        "size_bytes": media.size_bytes,
        "created_at": iso_z(media.created_at),
        "expires_at": iso_z(media.expires_at),
        "url": path_for(endpoint, media_id=media.id),
    }


def register_template(
    store: MediaStore, slot: Slot, driver: ProviderDriver | None, upload: Upload, media_kind: str, admin: str
) -> tuple[MediaObject, SlotTemplateMedia]:
    """Store a template image and bind it to ``slot`` after its current templates.

    The slot's version increments: its configuration changed, so earlier
    results of the same photo are no longer valid replays. Caller commits.
    """
    if media_kind not in MEDIA_KINDS:
        raise field_error("media_kind", "недопустимое значение; допустимы: " + ", ".join(MEDIA_KINDS))
    limit = driver.max_templates if driver is not None else None
    if limit is not None and len(slot.templates) >= limit:
        raise field_error(
            "slot_id",
            f"провайдер {slot.provider} принимает не больше {limit} шаблон(а): сначала уберите текущий",
        )
    media_id = uuid.uuid4().hex
    rel = template_path(slot.id, media_id, EXT_BY_MIME[upload.mime])
    store.write_atomic(rel, upload.data)
    media = MediaObject(
        id=media_id,
        slot_id=slot.id,
        kind=MediaKind.TEMPLATE,
        path=rel,
        mime=upload.mime,
        size_bytes=upload.size,
        created_at=utcnow(),
        expires_at=None,  # templates live until an admin removes them
    )
    db.session.add(media)
    position = db.session.execute(
        select(func.coalesce(func.max(SlotTemplateMedia.position), -1)).where(
            SlotTemplateMedia.slot_id == slot.id
        )
    ).scalar_one()
    binding = SlotTemplateMedia(media_object_id=media_id, media_kind=media_kind, position=int(position) + 1)
    slot.templates.append(binding)
    touch(slot, admin)
    return media, binding


def get_media(media_id: str, *kinds: str) -> MediaObject:
    """A live media object of one of ``kinds`` or 404."""
    media = by_url_id(MediaObject, media_id) if len(media_id) <= 32 else None
    if media is None or media.kind not in kinds or media.cleaned_at is not None:
        raise ApiError("not_found", "Файл не найден или уже удалён")
    if media.expires_at is not None and media.expires_at <= utcnow():
        raise ApiError("media_expired")
    return media


def delete_template(store: MediaStore, media: MediaObject, admin: str) -> list[str]:
    """Unbind a template from every slot, remove its file, mark it cleaned.

    Returns the ids of the slots whose configuration changed. Caller commits.
    """
    bindings = (
        db.session.execute(select(SlotTemplateMedia).where(SlotTemplateMedia.media_object_id == media.id))
        .scalars()
        .all()
    )
    changed = []
    for binding in bindings:
        slot = binding.slot
        slot.templates.remove(binding)
        touch(slot, admin)
        changed.append(slot.id)
    store.remove(media.path)
    store.prune_empty_parents(media.path)
    media.cleaned_at = utcnow()
    return changed


def register_temp(store: MediaStore, upload: Upload, slot_id: str | None, ttl: dt.timedelta) -> MediaObject:
    """A temporary upload (a test photo) that expires like results. Caller commits."""
    media_id = uuid.uuid4().hex
    rel = f"temp/{media_id}.{EXT_BY_MIME[upload.mime]}"
    store.write_atomic(rel, upload.data)
    return _expiring_row(media_id, slot_id, MediaKind.TEMP, rel, upload.mime, upload.size, ttl)


def _expiring_row(
    media_id: str, slot_id: str | None, kind: str, rel: str, mime: str, size: int, ttl: dt.timedelta
) -> MediaObject:
    """A new media row that expires ``ttl`` from now, added to the session."""
    now = utcnow()
    media = MediaObject(
        id=media_id,
        slot_id=slot_id,
        kind=kind,
        path=rel,
        mime=mime,
        size_bytes=size,
        created_at=now,
        expires_at=now + ttl,
    )
    db.session.add(media)
    return media


def publish_provider_link(store: MediaStore, media: MediaObject, lifetime: dt.timedelta) -> MediaObject:
    """Publish ``media`` at an unguessable provider-media URL, as a job publishes its inputs.

    The link lives ``lifetime``; then, like a job's expired links, it answers 410 and
    clean-up removes its copy. Caller commits.
    """
    link_id = uuid.uuid4().hex
    rel = provider_media_path(link_id, EXT_BY_MIME[media.mime])
    store.link_or_copy(media.path, rel)
    return _expiring_row(
        link_id, media.slot_id, MediaKind.PROVIDER_MEDIA, rel, media.mime, media.size_bytes, lifetime
    )


def provider_link_view(link: MediaObject, source: MediaObject, base_url: str) -> dict[str, object]:
    """The published link: ``url`` is the public address a provider would be given."""
    return {
        **media_view(link),
        "url": provider_media_url(base_url, link.id),
        "source_media_id": source.id,
    }
