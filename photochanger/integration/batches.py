"""Batches: checked photos (of a ZIP and/or separate) become one task each; progress; results as a ZIP.

Every photo is stored and queued before the 202, or none is: a failure while
unpacking (a member that lies about its size, a full disk) removes what was
written and stores nothing. A photo that is broken inside (truncated, too many
pixels, over the slot's size limit) is recorded as a failed task of its own and
the rest of the batch runs.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
import zipfile
from collections import Counter
from typing import Any

from sqlalchemy import select
from zipstream import ZIP_STORED, ZipStream

from photochanger.clock import iso_z, utcnow
from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.integration.batch_photos import BatchPhoto
from photochanger.integration.tasks import new_task, task_view
from photochanger.media.images import EXT_BY_MIME
from photochanger.media.storage import MediaStore
from photochanger.media.upload import read_upload
from photochanger.media.zips import add_stored
from photochanger.models import ApiBatch, ApiTask, JobHistory, TaskStatus


def create_batch(
    store: MediaStore,
    photos: list[BatchPhoto],
    *,
    key_id: str | None,
    created_by: str | None = None,
    slot_id: str,
    base_url: str,
    ttl: dt.timedelta,
    photo_limit_mb: int,
    max_megapixels: int,
) -> ApiBatch:
    """Store the checked photos (:func:`.batch_photos.batch_photos`) and queue them (the caller commits)."""
    batch = ApiBatch(
        id=uuid.uuid4().hex,
        key_id=key_id,
        created_by=created_by,
        slot_id=slot_id,
        total=len(photos),
        created_at=utcnow(),
    )
    db.session.add(batch)
    written: list[str] = []
    common: dict[str, Any] = {"key_id": key_id, "slot_id": slot_id, "base_url": base_url, "ttl": ttl}
    try:
        for position, photo in enumerate(photos):
            place: dict[str, Any] = {"batch_id": batch.id, "position": position, "name": photo.name}
            try:
                upload = read_upload(photo.open(), photo.name, photo_limit_mb, max_megapixels)
            except (ApiError, zipfile.BadZipFile) as exc:
                task = new_task(store, **common, **place)
                _fail_at_once(task, exc.reason if isinstance(exc, ApiError) else "bad_zip")
                continue
            task = new_task(store, **common, **place, upload=upload)
            written.append(f"api/{task.id}")
    except BaseException:
        db.session.rollback()
        for rel in written:
            store.remove_tree(rel)
        raise
    return batch


def _fail_at_once(task: ApiTask, reason: str) -> None:
    task.status = TaskStatus.FAILED
    task.failure_reason = reason
    task.finished_at = utcnow()


def owned_batch(batch_id: str, key_id: str | None) -> ApiBatch | None:
    """The batch, if ``key_id`` owns it (``None``: an admin, who sees every batch)."""
    batch = db.session.get(ApiBatch, batch_id) if len(batch_id) <= 32 else None
    if batch is None or (key_id is not None and batch.key_id != key_id):
        return None
    return batch


def batch_tasks(batch_id: str) -> list[ApiTask]:
    query = select(ApiTask).where(ApiTask.batch_id == batch_id).order_by(ApiTask.position)
    return list(db.session.execute(query).scalars())


def batch_view(
    batch: ApiBatch, tasks: list[ApiTask], base_url: str, with_files: bool = True
) -> dict[str, Any]:
    """Progress of a batch: counts by status and, per photo, its status and result link."""
    counts = Counter(task.status for task in tasks)
    finished = counts[TaskStatus.DONE] + counts[TaskStatus.FAILED]
    body: dict[str, Any] = {
        "batch_id": batch.id,
        "slot_id": batch.slot_id,
        "created_at": iso_z(batch.created_at),
        "total": batch.total,
        "counts": {
            status: counts[status] for status in (*TaskStatus.OPEN, TaskStatus.DONE, TaskStatus.FAILED)
        },
        "finished": finished == batch.total,
    }
    if with_files:
        body["files"] = [{"name": task.name, **task_view(task, base_url)} for task in tasks]
    return body


def results_zip(store: MediaStore, tasks: list[ApiTask], base_url: str) -> ZipStream:
    """The batch's results so far and ``manifest.json``, streamed with its exact size.

    Results are stored as they are (photos do not compress); names are the
    photo's place in the batch and its own name, so they are stable and unique.
    """
    results = _result_files(tasks)
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    manifest = []
    for task in tasks:
        entry: dict[str, Any] = {
            "name": task.name,
            "job_id": task.id,
            "status": task.status,
            "failure_reason": task.failure_reason,
            "result_url": None,
            "file": None,
        }
        job = results.get(task.job_id or "")
        if task.status == TaskStatus.DONE and job is not None:
            path, mime, expires = job
            entry["result_url"] = task_view(task, base_url)["result_url"]
            size = store.size(path) if expires is None or expires > utcnow() else None
            if size is not None:
                stem = (task.name or "photo").rsplit(".", 1)[0][:80] or "photo"
                entry["file"] = f"results/{task.position + 1:03d}_{stem}.{EXT_BY_MIME.get(mime, 'jpg')}"
                add_stored(archive, store, path, entry["file"], size)
            else:
                entry["status"], entry["failure_reason"] = TaskStatus.FAILED, "result_expired"
        manifest.append(entry)
    body = json.dumps({"files": manifest}, ensure_ascii=False, indent=2).encode()
    archive.add(body, "manifest.json")
    return archive


def _result_files(tasks: list[ApiTask]) -> dict[str, tuple[str, str, dt.datetime | None]]:
    job_ids = [task.job_id for task in tasks if task.job_id and task.status == TaskStatus.DONE]
    if not job_ids:
        return {}
    rows = db.session.execute(
        select(
            JobHistory.job_id, JobHistory.result_path, JobHistory.result_mime, JobHistory.result_expires_at
        ).where(JobHistory.job_id.in_(job_ids), JobHistory.result_path.is_not(None))
    )
    return {row[0]: (str(row[1]), row[2] or "image/jpeg", row[3]) for row in rows}


def recent_batches(limit: int = 50) -> list[tuple[ApiBatch, list[ApiTask]]]:
    """The newest batches with their tasks (the admin page)."""
    batches = (
        db.session.execute(select(ApiBatch).order_by(ApiBatch.created_at.desc()).limit(limit)).scalars().all()
    )
    return [(batch, batch_tasks(batch.id)) for batch in batches]
