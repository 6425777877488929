"""The integration API's tasks in the database: queued, claimed by one worker, finished once.

A task's row is written (and its photo stored) before the 202 goes out, so a
restart loses nothing: queued tasks simply wait, and a running one whose worker
died is taken back, by its host at start-up or by any worker once its lease has
run out, and queued again or, after :data:`MAX_ATTEMPTS`, failed ``interrupted``.
Every change is one conditional UPDATE, so two workers never both own a task.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import and_, case, select, update

from photochanger.clock import iso_z, utcnow
from photochanger.extensions import db
from photochanger.ingest.ledger import media_row
from photochanger.links import result_url
from photochanger.media import images
from photochanger.media.storage import MediaStore
from photochanger.media.upload import Upload
from photochanger.models import ApiTask, MediaKind, MediaObject, TaskStatus

#: Attempts a task gets (a provider failure worth retrying, or a worker that died under it).
MAX_ATTEMPTS = 3
#: Pause before the second and third attempt (seconds).
RETRY_PAUSES = (5.0, 20.0)
#: Pause before a task whose slot or provider had no permit free tries again (seconds).
BUSY_PAUSE = 1.0
#: Time past the deadline after which a running task's worker is taken for dead.
LEASE_MARGIN = dt.timedelta(seconds=60)


def input_path(task_id: str, mime: str) -> str:
    return f"api/{task_id}/input.{images.EXT_BY_MIME[mime]}"


def new_task(
    store: MediaStore,
    *,
    key_id: str | None,
    slot_id: str,
    base_url: str,
    ttl: dt.timedelta,
    upload: Upload | None = None,
    prompt: str | None = None,
    webhook_url: str | None = None,
    batch_id: str | None = None,
    position: int = 0,
    name: str | None = None,
) -> ApiTask:
    """A queued task with its photo stored (the caller commits); the photo expires with the TTL."""
    task_id = uuid.uuid4().hex
    now = utcnow()
    rel = None
    if upload is not None:
        rel = input_path(task_id, upload.mime)
        store.write_atomic(rel, upload.data)
        row = media_row(MediaKind.TEMP, rel, upload.mime, upload.size, task_id, slot_id, now + ttl)
        db.session.add(MediaObject(**row))
    task = ApiTask(
        id=task_id,
        key_id=key_id,
        slot_id=slot_id,
        batch_id=batch_id,
        position=position,
        name=name,
        prompt=prompt,
        input_path=rel,
        input_mime=upload.mime if upload is not None else None,
        status=TaskStatus.QUEUED,
        attempts=0,
        created_at=now,
        not_before=now,
        webhook_url=webhook_url,
        webhook_state="none",
        webhook_attempts=0,
        base_url=base_url,
    )
    db.session.add(task)
    return task


def claim_queued(limit: int, worker: str, lease: dt.timedelta) -> list[str]:
    """Up to ``limit`` due tasks, oldest first, now running in ``worker``; committed.

    Claiming counts an attempt: a task that kills its worker every time still ends.
    """
    if limit <= 0:
        return []
    now = utcnow()
    due = (
        select(ApiTask.id)
        .where(ApiTask.status == TaskStatus.QUEUED, ApiTask.not_before <= now)
        .order_by(ApiTask.not_before, ApiTask.created_at)
        .limit(limit * 2)
    )
    mine: list[str] = []
    for task_id in db.session.execute(due).scalars().all():
        if len(mine) >= limit:
            break
        taken = db.session.execute(
            update(ApiTask)
            .where(ApiTask.id == task_id, ApiTask.status == TaskStatus.QUEUED)
            .values(
                status=TaskStatus.RUNNING,
                attempts=ApiTask.attempts + 1,
                lease_until=now + lease,
                claimed_by=worker,
            )
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            mine.append(task_id)
    db.session.commit()
    return mine


def requeue(task_id: str, pause: float, *, counted: bool, job_id: str | None = None) -> None:
    """Back in the queue after ``pause`` seconds; ``counted=False`` gives the attempt back."""
    values: dict[str, Any] = {
        "status": TaskStatus.QUEUED,
        "not_before": utcnow() + dt.timedelta(seconds=pause),
        "lease_until": None,
        "claimed_by": None,
    }
    if not counted:
        values["attempts"] = ApiTask.attempts - 1
    if job_id:
        values["job_id"] = job_id
    db.session.execute(
        update(ApiTask).where(ApiTask.id == task_id, ApiTask.status == TaskStatus.RUNNING).values(**values)
    )
    db.session.commit()


def finish(task_id: str, status: str, *, job_id: str | None, failure_reason: str | None = None) -> None:
    """Done or failed, once; a webhook (when asked for) becomes due."""
    now = utcnow()
    db.session.execute(
        update(ApiTask)
        .where(ApiTask.id == task_id, ApiTask.status.in_(TaskStatus.OPEN))
        .values(**_finished(status, now, failure_reason), job_id=job_id)
    )
    db.session.commit()


def _finished(status: str, now: dt.datetime, failure_reason: str | None) -> dict[str, Any]:
    return {
        "status": status,
        "failure_reason": failure_reason,
        "finished_at": now,
        "lease_until": None,
        "claimed_by": None,
        "webhook_state": case((ApiTask.webhook_url.is_not(None), "pending"), else_="none"),
        "webhook_next_at": now,
    }


def take_back(host: str | None = None) -> int:
    """Running tasks whose worker is dead: queued again, or failed ``interrupted`` after the last attempt.

    ``host`` given (start-up): every running task claimed on that host, whose
    workers are all gone; else those whose lease has run out.
    """
    now = utcnow()
    dead = (
        ApiTask.claimed_by.like(f"{host}:%")
        if host
        else and_(ApiTask.lease_until.is_not(None), ApiTask.lease_until < now)
    )
    running = and_(ApiTask.status == TaskStatus.RUNNING, dead)
    failed = db.session.execute(
        update(ApiTask)
        .where(running, ApiTask.attempts >= MAX_ATTEMPTS)
        .values(**_finished(TaskStatus.FAILED, now, "interrupted"))
    )
    queued = db.session.execute(
        update(ApiTask)
        .where(running)
        .values(status=TaskStatus.QUEUED, not_before=now, lease_until=None, claimed_by=None)
    )
    db.session.commit()
    return int(failed.rowcount or 0) + int(queued.rowcount or 0)  # type: ignore[attr-defined]


def task_view(task: ApiTask, base_url: str) -> dict[str, Any]:
    """A task as the API and its webhook show it, its result link on ``base_url``."""
    done = task.status == TaskStatus.DONE and task.job_id
    link = result_url(base_url, task.job_id) if done and task.job_id else None
    return {
        "job_id": task.id,
        "slot_id": task.slot_id,
        "status": task.status,
        "attempts": task.attempts,
        "failure_reason": task.failure_reason,
        "created_at": iso_z(task.created_at),
        "finished_at": iso_z(task.finished_at),
        "result_url": link,
        "result_urls": [link] if link else [],
        "batch_id": task.batch_id,
        "webhook": {"state": task.webhook_state, "attempts": task.webhook_attempts}
        if task.webhook_url
        else None,
    }


def owned_task(task_id: str, key_id: str | None) -> ApiTask | None:
    """The key's task ``task_id`` (``None``: an admin, who sees every task); another key's is unknown."""
    if len(task_id) > 32:
        return None
    task = db.session.get(ApiTask, task_id)
    if task is None or (key_id is not None and task.key_id != key_id):
        return None
    return task
