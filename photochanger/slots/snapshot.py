"""The settings and slots an ingest reads, cached per worker until they change.

Every ingest needs the runtime settings and its slot with the slot's
templates; reading them cost two statements (three round trips with the
pool's ping on PostgreSQL) and most of the ORM work of an ingest, for data
that changes only when an admin edits it. A worker keeps what it read with
the number of ``config_generation`` it read first; triggers bump that number
on every change of ``app_settings``, ``slot`` and ``slot_template_media``
(migration 0004), whoever makes it. An ingest reads that one row: unchanged,
the copy is used; changed, everything is read again. A deactivated slot or a
new ingest password therefore takes effect on the very next photo.

The generation is read before the data, so a change committed in between
leaves data newer than its number, which only costs one more read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.models import ConfigGeneration, Slot, SlotTemplateMedia
from photochanger.settings.store import RuntimeSettings, load_settings
from photochanger.slots.chain import ChainStep, chain_of

_KEY = "photochanger.config_cache"
_GENERATION = select(ConfigGeneration.__table__.c.generation).where(ConfigGeneration.__table__.c.id == 1)


@dataclass(frozen=True)
class SlotSnapshot:
    """Plain values of a slot: nothing an ingest holds is an ORM object or shared state."""

    id: str
    provider: str
    operation: str
    version: int
    is_active: bool
    size_limit_mb: int | None
    settings: dict[str, Any]
    #: (role, relative path, mime) in send order
    templates: tuple[tuple[str, str, str], ...]
    #: the provider steps, the slot's own first (a slot without fallbacks has one)
    chain: tuple[ChainStep, ...]

    @classmethod
    def of(cls, slot: Slot) -> SlotSnapshot:
        return cls(
            id=slot.id,
            provider=slot.provider,
            operation=slot.operation,
            version=slot.version,
            is_active=slot.is_active,
            size_limit_mb=slot.size_limit_mb,
            settings=dict(slot.settings_json or {}),
            templates=tuple((t.media_kind, t.media.path, t.media.mime) for t in slot.templates),
            chain=chain_of(slot.provider, slot.operation, slot.settings_json or {}, slot.chain_json),
        )


@dataclass
class _Copy:
    generation: int
    settings: RuntimeSettings
    #: only slots that exist: unknown ids from the internet are not remembered
    slots: dict[str, SlotSnapshot]


def ingest_config(slot_id: str) -> tuple[RuntimeSettings, SlotSnapshot]:
    """The settings and the active slot ``slot_id``, or 404 ``slot_not_found`` / ``slot_inactive``."""
    generation = db.session.execute(_GENERATION).scalar_one_or_none()
    copy = current_app.extensions.get(_KEY)
    if generation is None or not isinstance(copy, _Copy) or copy.generation != generation:
        # Without the row (deleted by hand) nothing is cached: read every time.
        copy = _Copy(-1 if generation is None else generation, load_settings(), {})
        current_app.extensions[_KEY] = copy
    slot = copy.slots.get(slot_id)
    if slot is None:
        slot = _read_slot(slot_id)
        copy.slots[slot_id] = slot
    if not slot.is_active:
        raise ApiError("slot_inactive", f"Слот {slot_id} отключён администратором")
    # The settings dict goes to the driver with the job: each ingest gets its own.
    return copy.settings, dataclasses.replace(slot, settings=dict(slot.settings))


def _read_slot(slot_id: str) -> SlotSnapshot:
    # Templates and their media rows are joined into this one SELECT; a NUL would be PostgreSQL's 500.
    slot = None
    if "\x00" not in slot_id:
        options = [joinedload(Slot.templates).joinedload(SlotTemplateMedia.media)]
        slot = db.session.get(Slot, slot_id, options=options)
    if slot is None:
        raise ApiError("slot_not_found", f"Слот {slot_id} не найден")
    return SlotSnapshot.of(slot)
