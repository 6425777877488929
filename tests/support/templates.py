"""Attach template images to a slot the way the admin API stores them."""

from __future__ import annotations

import uuid

from flask import Flask

from photochanger.extensions import db
from photochanger.media.images import EXT_BY_MIME, sniff_mime
from photochanger.media.storage import template_path
from photochanger.models import MediaKind, MediaObject, Slot, SlotTemplateMedia
from photochanger.runtime import services


def add_template(app: Flask, slot_id: str, data: bytes, role: str = "style") -> str:
    """Store ``data`` as a template of ``slot_id`` (appended last); returns the media id."""
    mime = sniff_mime(data[:16])
    assert mime is not None
    with app.app_context():
        media_id = uuid.uuid4().hex
        rel = template_path(slot_id, media_id, EXT_BY_MIME[mime])
        services().store.write_atomic(rel, data)
        db.session.add(
            MediaObject(
                id=media_id,
                slot_id=slot_id,
                kind=MediaKind.TEMPLATE,
                path=rel,
                mime=mime,
                size_bytes=len(data),
            )
        )
        slot = db.session.get(Slot, slot_id)
        assert slot is not None
        db.session.add(
            SlotTemplateMedia(
                slot_id=slot_id, media_kind=role, media_object_id=media_id, position=len(slot.templates)
            )
        )
        slot.version += 1
        db.session.commit()
        return media_id
