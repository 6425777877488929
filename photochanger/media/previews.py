"""Gallery previews, built off the response path and again lazily on read."""

from __future__ import annotations

import logging

from ..background import in_thread
from . import images
from .storage import MediaStore, preview_path

log = logging.getLogger("photochanger.media")


def ensure_preview(
    store: MediaStore, slot_id: str, job_id: str, data: bytes | None = None, source_rel: str | None = None
) -> str | None:
    """Write ``preview.webp`` for a result if it is missing; its relative path or ``None``.

    The decode and encode run in an OS thread (``background.in_thread``): a
    1.2 MB PNG answer takes ~45 ms, and Pillow releases the GIL meanwhile, so
    the worker's event loop keeps serving booths. Nothing in that thread logs
    or touches gevent objects; failures are reported back here.
    """
    rel = preview_path(slot_id, job_id)
    if store.exists(rel):
        return rel
    if data is None and source_rel is None:
        return None
    try:
        in_thread(_build, store, rel, data, source_rel)()
    except (OSError, ValueError) as exc:
        log.warning("preview.failed", extra={"event": "preview.failed", "job_id": job_id, "detail": str(exc)})
        return None
    return rel


def _build(store: MediaStore, rel: str, data: bytes | None, source_rel: str | None) -> None:
    if data is None:
        if source_rel is None:
            raise ValueError("neither the result's bytes nor its path")
        data = store.read(source_rel)
    store.write_atomic(rel, images.make_preview(data))
