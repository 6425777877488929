"""A successful ingest's work after its answer: the gallery preview and the input's retention.

Spawned by the ingest service once the answer is out, so none of it delays a booth.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from photochanger.errors import StorageUnavailable
from photochanger.extensions import db
from photochanger.jobs.input_retention import retire_input
from photochanger.jobs.shown import is_shown
from photochanger.media.previews import ensure_preview

log = logging.getLogger("photochanger.ingest")


def after_answer(store: Any, slot_id: str, job_id: str, result_rel: str, keep_input_hours: int) -> None:
    """A successful ingest's work after its answer: the gallery preview, the input's retention."""
    build_preview_if_shown(store, slot_id, job_id, result_rel)
    retire_input(store, job_id, keep_input_hours)


def build_preview_if_shown(store: Any, slot_id: str, job_id: str, result_rel: str) -> None:
    """The deferred gallery preview, unless no page shows this result any more.

    Run once the worker is idle, in an application context: after a burst,
    most of its results are already outside every gallery and recent list
    (:mod:`~photochanger.jobs.shown`). One that is skipped is still built if
    it is ever asked for.
    """
    try:
        shown = is_shown(slot_id, job_id)
    except SQLAlchemyError:
        db.session.rollback()
        log.warning(
            "preview.check_failed",
            extra={"event": "preview.check_failed", "job_id": job_id, "slot_id": slot_id},
            exc_info=True,
        )
        shown = True  # cannot tell: build it, as every result used to get
    if not shown:
        return
    try:
        ensure_preview(store, slot_id, job_id, result_rel)
    except StorageUnavailable as exc:  # built on first request instead
        log.warning("preview.failed", extra={"event": "preview.failed", "job_id": job_id, "detail": str(exc)})
