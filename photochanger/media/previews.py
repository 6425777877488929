"""Gallery previews, built off the response path and again lazily on read."""

from __future__ import annotations

import logging

from . import images
from .storage import MediaStore, preview_path

log = logging.getLogger("photochanger.media")


def ensure_preview(
    store: MediaStore, slot_id: str, job_id: str, data: bytes | None = None, source_rel: str | None = None
) -> str | None:
    """Write ``preview.webp`` for a result if it is missing; its relative path or ``None``."""
    rel = preview_path(slot_id, job_id)
    if store.exists(rel):
        return rel
    try:
        if data is None:
            if source_rel is None:
                return None
            data = store.read(source_rel)
        store.write_atomic(rel, images.make_preview(data))
    except (OSError, ValueError) as exc:
        log.warning("preview.failed", extra={"event": "preview.failed", "job_id": job_id, "detail": str(exc)})
        return None
    return rel
