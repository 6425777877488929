"""Provider-media links: inputs published at unguessable URLs for providers that fetch them.

A link lives only as long as its job: it expires with the deadline and is
retired (file removed, row marked cleaned, so the link answers 410) however
the job ends.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from photochanger.clock import utcnow
from photochanger.errors import StorageUnavailable
from photochanger.ingest.ledger import Ledger, media_row
from photochanger.links import provider_media_url
from photochanger.media import images
from photochanger.media.storage import MediaStore, provider_media_path
from photochanger.models import MediaKind
from photochanger.providers.base import ImageInput
from photochanger.slots.snapshot import SlotSnapshot


class Publications:
    """One job's published links; retire them in a ``finally``."""

    def __init__(self, store: MediaStore, ledger: Ledger, base_url: str) -> None:
        self.store = store
        self.ledger = ledger
        self.base_url = base_url
        #: (media id, relative path) of every link whose file exists
        self.links: list[tuple[str, str]] = []

    def publish(
        self,
        job_id: str,
        slot: SlotSnapshot,
        in_rel: str | None,
        photo: ImageInput | None,
        templates: tuple[ImageInput, ...],
        deadline: float,
    ) -> tuple[ImageInput | None, tuple[ImageInput, ...]]:
        """The photo and templates with their URLs, their rows committed before a provider may fetch them.

        No photo (``in_rel`` ``None``: text-to-image) publishes the templates only.

        Each link is remembered as soon as its file exists, so :meth:`retire`
        removes it however this ends.
        """
        expires = utcnow() + dt.timedelta(seconds=max(0.0, deadline - time.monotonic()))
        rows: list[dict[str, Any]] = []

        def one(src_rel: str, image: ImageInput) -> ImageInput:
            media_id = uuid.uuid4().hex
            rel = provider_media_path(media_id, images.EXT_BY_MIME[image.mime])
            self.store.link_or_copy(src_rel, rel)
            self.links.append((media_id, rel))
            size = len(image.data) or (self.store.size(rel) or 0)  # a fallback's photo is read from the store
            rows.append(
                media_row(MediaKind.PROVIDER_MEDIA, rel, image.mime, size, job_id, slot.id, expires, media_id)
            )
            return ImageInput(image.data, image.mime, image.role, provider_media_url(self.base_url, media_id))

        new_photo = one(in_rel, photo) if in_rel is not None and photo is not None else None
        new_templates = tuple(
            one(rel, tpl) for (_, rel, _), tpl in zip(slot.templates, templates, strict=True)
        )
        if rows:
            self.ledger.record_published(rows)
        return new_photo, new_templates

    def retire(self) -> None:
        """Provider-media links die with the job: files removed, links answer 410.

        Never raises for an unreachable store (it runs in a ``finally``, after
        the answer may be ready): a copy it cannot remove keeps its row, so the
        link still ends at its deadline and clean-up removes the copy later.
        """
        if not self.links:
            return
        removed = []
        for media_id, rel in self.links:
            try:
                self.store.remove(rel)
            except StorageUnavailable:
                continue
            removed.append(media_id)
        if removed:
            self.ledger.retire_media(removed)
