"""Gallery previews, built off the response path and again lazily on read."""

from __future__ import annotations

import logging

from photochanger.infra.background import in_thread
from photochanger.media import images
from photochanger.media.storage import MediaStore, preview_path

log = logging.getLogger("photochanger.media")


def ensure_preview(store: MediaStore, slot_id: str, job_id: str, source_rel: str) -> str | None:
    """Write ``preview.webp`` for the result stored at ``source_rel`` if it is missing.

    Returns the preview's relative path, or ``None`` when it cannot be built.
    The decode and encode run in an OS thread (``background.in_thread``):
    Pillow releases the GIL meanwhile, so the worker's event loop keeps serving
    booths. The store is read and written here, in the greenlet, because a
    remote backend's client talks through gevent's sockets.
    """
    rel = preview_path(slot_id, job_id)
    if store.exists(rel):
        return rel
    try:
        store.write_atomic(rel, in_thread(images.make_preview, store.read(source_rel))())
    except (OSError, ValueError) as exc:
        log.warning("preview.failed", extra={"event": "preview.failed", "job_id": job_id, "detail": str(exc)})
        return None
    return rel
