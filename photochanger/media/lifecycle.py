"""TTL of stored media: lazy expiry on read (cleanup-media does it in bulk)."""

from __future__ import annotations

from sqlalchemy import update

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.media.storage import MediaStore, result_dir
from photochanger.models import JobHistory, MediaKind, MediaObject


def expire_job_result(store: MediaStore, job: JobHistory) -> None:
    """Remove an expired job's result folder and mark its media cleaned."""
    store.remove_tree(result_dir(job.slot_id, job.job_id))
    db.session.execute(
        update(MediaObject)
        .where(
            MediaObject.job_id == job.job_id,
            MediaObject.kind == MediaKind.RESULT,
            MediaObject.cleaned_at.is_(None),
        )
        .values(cleaned_at=utcnow())
    )
    db.session.commit()


def expire_media(store: MediaStore, media: MediaObject) -> None:
    """Remove one expired media file and mark it cleaned."""
    store.remove(media.path)
    if media.cleaned_at is None:
        media.cleaned_at = utcnow()
        db.session.commit()
