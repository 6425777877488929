"""Manual clean-up of one slot's expired media (the admin's «Очистить» button).

Removes files whose TTL has passed (results with their previews, inputs,
temporary uploads, provider-media copies), marks their ``media_object`` rows
``cleaned_at``, and removes result folders no live job owns. Templates and
live results are never touched; running jobs are left alone.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from sqlalchemy import select

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.media.storage import MediaStore, result_dir
from photochanger.models import JobHistory, JobStatus, MediaKind, MediaObject

BATCH = 500


@dataclass
class CleanupReport:
    slot_id: str
    media_cleaned: int = 0
    files_removed: int = 0
    orphan_folders_removed: int = 0
    bytes_freed: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def cleanup_slot(store: MediaStore, slot_id: str) -> CleanupReport:
    """Clean ``slot_id``'s expired media in batches; commits per batch."""
    report = CleanupReport(slot_id)
    now = utcnow()
    while True:
        batch = (
            db.session.execute(
                select(MediaObject)
                .where(
                    MediaObject.slot_id == slot_id,
                    MediaObject.cleaned_at.is_(None),
                    MediaObject.expires_at.is_not(None),
                    MediaObject.expires_at <= now,
                    MediaObject.kind != MediaKind.TEMPLATE,
                )
                .limit(BATCH)
            )
            .scalars()
            .all()
        )
        if not batch:
            break
        for media in batch:
            report.bytes_freed += _size(store, media.path)
            if store.remove(media.path):
                report.files_removed += 1
            if media.kind == MediaKind.RESULT and media.job_id:
                store.remove_tree(result_dir(slot_id, media.job_id))  # the preview goes with it
            else:
                store.prune_empty_parents(media.path)
            media.cleaned_at = now
            report.media_cleaned += 1
        db.session.commit()
    _remove_orphans(store, slot_id, report)
    return report


def _remove_orphans(store: MediaStore, slot_id: str, report: CleanupReport) -> None:
    """Result folders whose job is gone, failed or expired (e.g. left by a crash)."""
    try:
        folder = store.abspath(f"results/{slot_id}")
        names = [n for n in os.listdir(folder) if os.path.isdir(os.path.join(folder, n))]
    except (OSError, ValueError):
        return
    now = utcnow()
    for start in range(0, len(names), BATCH):
        chunk = names[start : start + BATCH]
        jobs = {
            j.job_id: j
            for j in db.session.execute(select(JobHistory).where(JobHistory.job_id.in_(chunk))).scalars()
        }
        for name in chunk:
            job = jobs.get(name)
            if job is not None and job.status in JobStatus.RUNNING:
                continue  # its result may be being written right now
            live = job is not None and job.result_expires_at is not None and job.result_expires_at > now
            if job is not None and job.status == JobStatus.DONE and live:
                continue
            rel = result_dir(slot_id, name)
            report.bytes_freed += store.remove_tree(rel)
            report.orphan_folders_removed += 1


def _size(store: MediaStore, rel: str) -> int:
    try:
        return os.path.getsize(store.abspath(rel))
    except (OSError, ValueError):
        return 0
