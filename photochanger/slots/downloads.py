"""«Скачать все»: a slot's (or every slot's) live results as one streamed ZIP."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response
from sqlalchemy import select

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.jobs.shown import live_results_query
from photochanger.media.storage import MediaStore
from photochanger.media.zips import ZipEntry, results_zip
from photochanger.models import Slot


def _entries(slot_id: str) -> Iterator[ZipEntry]:
    for job in db.session.execute(live_results_query(slot_id, utcnow())).scalars():
        if job.result_path:
            yield ZipEntry(
                job.job_id,
                job.result_path,
                job.result_mime or "image/jpeg",
                job.finished_at or job.started_at,
            )


def zip_response(store: MediaStore, slot_ids: list[str], filename: str) -> Response:
    """The results of ``slot_ids`` as an attachment, streamed with its exact Content-Length."""
    archive = results_zip(store, [(slot_id, entry) for slot_id in slot_ids for entry in _entries(slot_id)])
    resp = Response(iter(archive), mimetype="application/zip")
    resp.headers["Content-Length"] = str(len(archive))
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def all_slot_ids() -> list[str]:
    return list(db.session.execute(select(Slot.id).order_by(Slot.id)).scalars())
