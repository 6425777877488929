"""How long a job's input photo (a guest's face) is kept once the job has ended.

A successful job's input is deleted as soon as its result is stored, unless
the admin keeps inputs for ``keep_input_hours``; a failed job's is kept for
``keep_failed_input_hours`` (24 by default) so the admin can look at what
failed. Both are settings. Without this every input stayed for the whole
result TTL (issue 20, row 18).

Runs after the answer (the ingest defers it), so it adds nothing to the
booth's wait or to the ingest's statements. Deleting follows the clean-up's
claim rule (:mod:`photochanger.jobs.claims`): the file is removed only by the
run whose ``UPDATE`` marked the row ``cleaned_at``. A kept input gets its
``expires_at`` brought forward and is removed by the next clean-up run.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.media.storage import MediaStore
from photochanger.models import MediaKind, MediaObject


def retire_input(store: MediaStore, job_id: str, keep_hours: int) -> None:
    """Delete the job's input now (``keep_hours`` 0), or let it expire ``keep_hours`` from now."""
    now = utcnow()
    live = (
        MediaObject.job_id == job_id,
        MediaObject.kind == MediaKind.INPUT,
        MediaObject.cleaned_at.is_(None),
    )
    if keep_hours > 0:
        until = now + dt.timedelta(hours=keep_hours)
        db.session.execute(
            update(MediaObject)
            .where(*live, (MediaObject.expires_at.is_(None)) | (MediaObject.expires_at > until))
            .values(expires_at=until)
        )
        db.session.commit()
        return
    rows = db.session.execute(select(MediaObject.id, MediaObject.path).where(*live)).all()
    for media_id, path in rows:
        claimed = db.session.execute(
            update(MediaObject)
            .where(MediaObject.id == media_id, MediaObject.cleaned_at.is_(None))
            .values(cleaned_at=now, expires_at=now)
        )
        db.session.commit()
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            store.remove(path)
            store.prune_empty_parents(path)
