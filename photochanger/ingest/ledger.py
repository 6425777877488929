"""The ledger: every job-row write of an ingest, each with its transaction rule.

Each :class:`Ledger` method is one step of the pipeline and ends its own
transaction, so a stored file is never without its row and no transaction (or
pooled connection) is held across an upload or a provider call. No other
module of the ingest package commits or rolls back.

An ingest reads its duplicates and writes a job, two media rows and two status
changes. Through the ORM (unit of work, identity map, ``synchronize_session``,
a fresh statement object and cache key each time) those five small statements
cost several times what prebuilt Core statements on the session's connection
cost. They run on the session's connection, so
``db.session.commit()`` and ``rollback()`` keep their meaning.
Rarer paths (failures, waiting for a duplicate, admin pages) keep the ORM.

On PostgreSQL every statement is a network round trip, and psycopg2 adds two
per transaction (it sends ``BEGIN`` on its own, then ``COMMIT``): an ingest
made 20. There the hot path runs in autocommit (:mod:`photochanger.infra.autocommit`) and each
write that must be all or nothing is one statement: a media row and the job's
status change travel together in a data-modifying ``WITH``. On SQLite a
statement is a function call, not a round trip, and SQLite has no
data-modifying ``WITH``: the same writes are two statements in a transaction.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
import uuid
from collections.abc import Sequence
from typing import Any, TypeAlias

from sqlalchemy import Row, Update, bindparam, insert, select, update
from sqlalchemy.orm import Session

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.infra.autocommit import autocommit
from photochanger.ingest.outcome import IngestRequest
from photochanger.models import JobHistory, JobStatus, MediaObject
from photochanger.slots.snapshot import SlotSnapshot

_JOB = JobHistory.__table__
_MEDIA = MediaObject.__table__

#: A row of ``_MATCH_COLUMNS``: job_id, status, deadline_at, result_expires_at, result_path,
#: result_mime, provider_id.
MatchRow: TypeAlias = Row[*tuple[Any, ...]]

#: What a replay or a wait needs of an earlier job.
_MATCH_COLUMNS = (
    _JOB.c.job_id,
    _JOB.c.status,
    _JOB.c.deadline_at,
    _JOB.c.result_expires_at,
    _JOB.c.result_path,
    _JOB.c.result_mime,
    _JOB.c.provider_id,
)
_RECENT = (
    select(*_MATCH_COLUMNS)
    .where(
        _JOB.c.slot_id == bindparam("slot_id"),
        _JOB.c.started_at > bindparam("since"),
        _JOB.c.status.in_((JobStatus.DONE, *JobStatus.RUNNING)),
    )
    .order_by(_JOB.c.started_at.desc())
    .limit(3)
)
_SAME_KEY = _RECENT.where(_JOB.c.idempotency_key == bindparam("key"))
_SAME_PHOTO = _RECENT.where(
    _JOB.c.input_sha256 == bindparam("sha256"),
    _JOB.c.slot_version == bindparam("version"),
    _JOB.c.source == bindparam("source"),
)
_INSERT_JOB = insert(_JOB)
_INSERT_MEDIA = insert(_MEDIA)
_PROCESSING = update(_JOB).where(_JOB.c.job_id == bindparam("id")).values(status=JobStatus.PROCESSING)
_DONE = (
    update(_JOB)
    .where(_JOB.c.job_id == bindparam("id"))
    .values(
        status=JobStatus.DONE,
        finished_at=bindparam("finished_at"),
        duration_ms=bindparam("duration_ms"),
        provider_attempts=bindparam("provider_attempts"),
        provider_id=bindparam("provider_id"),
        attempts_json=bindparam("attempts_json", type_=_JOB.c.attempts_json.type),
        answered_step=bindparam("answered_step"),
        result_path=bindparam("result_path"),
        result_mime=bindparam("result_mime"),
        result_size=bindparam("result_size"),
        result_expires_at=bindparam("result_expires_at"),
    )
)

#: ``WITH media AS (INSERT INTO media_object ...) UPDATE job_history ...``: a media
#: row and a status change in one statement (PostgreSQL; the media values are bound
#: as ``media_<column>``, apart from the update's own parameters).
_MEDIA_CTE = (
    insert(_MEDIA)
    .values({c.name: bindparam(f"media_{c.name}") for c in _MEDIA.columns if c.name != "cleaned_at"})
    .cte("media")
)
_WITH_MEDIA = {change: change.add_cte(_MEDIA_CTE) for change in (_PROCESSING, _DONE)}


def _recent_matches(
    slot_id: str,
    since: dt.datetime,
    *,
    idempotency_key: str | None,
    sha256: str,
    version: int,
    source: str,
) -> Sequence[MatchRow]:
    """Up to three jobs of the slot started after ``since``, done or running, newest first.

    With an ``Idempotency-Key`` the key decides; without one, the same photo
    for the same slot version and source.
    """
    params: dict[str, Any] = {"slot_id": slot_id, "since": since}
    if idempotency_key:
        statement, params["key"] = _SAME_KEY, idempotency_key
    else:
        statement = _SAME_PHOTO
        params.update(sha256=sha256, version=version, source=source)
    return db.session.connection().execute(statement, params).all()


def _insert_job(**values: Any) -> None:
    """Insert a ``job_history`` row (column defaults fill what is not given)."""
    db.session.connection().execute(_INSERT_JOB, values)


def media_row(
    kind: str,
    rel: str,
    mime: str,
    size: int,
    job_id: str,
    slot_id: str,
    expires: dt.datetime,
    media_id: str | None = None,
) -> dict[str, Any]:
    """The values of a ``media_object`` row for a stored file (a new id unless given)."""
    return {
        "id": media_id or uuid.uuid4().hex,
        "job_id": job_id,
        "slot_id": slot_id,
        "kind": kind,
        "path": rel,
        "mime": mime,
        "size_bytes": size,
        "created_at": utcnow(),
        "expires_at": expires,
    }


def _insert_media(rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``media_object`` rows made by :func:`media_row`, in one statement."""
    db.session.connection().execute(_INSERT_MEDIA, list(rows))


def _record_input(job_id: str, media: dict[str, Any]) -> None:
    """The stored photo's media row and the job's ``processing`` status, together."""
    _with_media(_PROCESSING, media, {"id": job_id})


def _record_result(job_id: str, media: dict[str, Any], **done: Any) -> None:
    """The stored result's media row and the job done with its result columns (see ``_DONE``)."""
    _with_media(_DONE, media, {"id": job_id, **done})


def _with_media(change: Update, media: dict[str, Any], params: dict[str, Any]) -> None:
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        params.update({f"media_{key}": value for key, value in media.items()})
        conn.execute(_WITH_MEDIA[change], params)
    else:
        conn.execute(_INSERT_MEDIA, media)
        conn.execute(change, params)


class Ledger:
    """The job's rows through the pipeline: claim → input → (published media) → result or failure."""

    def __init__(self, session: Session | None = None) -> None:
        self.session = session or db.session

    def read_only(self) -> None:
        """Reads that follow need no transaction: no BEGIN/COMMIT round trips around them."""
        autocommit()

    def release(self) -> None:
        """End any open transaction, so no pooled connection waits on an upload or a provider."""
        self.session.commit()

    def abandon(self) -> None:
        """Drop whatever the failed step had begun."""
        self.session.rollback()

    def duplicates(self, slot_id: str, since: dt.datetime, **match: Any) -> Sequence[MatchRow]:
        """The slot's recent jobs that the same request (key) or the same photo already made
        (``match``: see :func:`_recent_matches`)."""
        autocommit()
        return _recent_matches(slot_id, since, **match)

    def claim(self, **values: Any) -> None:
        """The new job's row, committed at once: a replay of the request now finds it."""
        _insert_job(**values)
        self.session.commit()

    def record_input(self, job_id: str, media: dict[str, Any]) -> None:
        """The stored photo's row and the job ``processing``, together and committed."""
        autocommit()
        _record_input(job_id, media)
        self.session.commit()

    def record_started(self, job_id: str) -> None:
        """The job ``processing`` with no stored photo (a text-to-image run without one), committed."""
        autocommit()
        self.session.connection().execute(_PROCESSING, {"id": job_id})
        self.session.commit()

    def record_published(self, rows: Sequence[dict[str, Any]]) -> None:
        """Provider-media links' rows, committed before the provider may fetch them."""
        autocommit()
        _insert_media(rows)
        self.session.commit()

    def record_result(self, job_id: str, media: dict[str, Any], **done: Any) -> None:
        """The stored result's row and the job ``done``, together and committed."""
        autocommit()
        _record_result(job_id, media, **done)
        self.session.commit()

    def record_failure(self, job_id: str, **values: Any) -> None:
        """The job failed or timed out (``status``, ``failure_reason``, ...), committed."""
        self.session.execute(update(JobHistory).where(JobHistory.job_id == job_id).values(**values))
        self.session.commit()

    def retire_media(self, media_ids: Sequence[str]) -> None:
        """Published links are over: their rows marked cleaned, so the links answer 410."""
        self.session.rollback()
        self.session.execute(
            update(MediaObject).where(MediaObject.id.in_(media_ids)).values(cleaned_at=utcnow())
        )
        self.session.commit()

    def reread(self, job_id: str) -> JobHistory | None:
        """The job as another worker left it now (a fresh read, no cached state)."""
        self.session.rollback()
        return self.session.get(JobHistory, job_id, populate_existing=True)


#: Recorded on each job: the start-up check fails only this host's running jobs.
_HOST = socket.gethostname()


def claim_values(job_id: str, slot: SlotSnapshot, req: IngestRequest, deadline: float) -> dict[str, Any]:
    """The new job row's values: ``pending``, with the photo's facts and the deadline as a time."""
    now = utcnow()
    return {
        "job_id": job_id,
        "slot_id": slot.id,
        "status": JobStatus.PENDING,
        "source": req.source,
        "provider_id": slot.provider,
        "operation": slot.operation,
        "slot_version": slot.version,
        "input_sha256": req.upload.sha256 if req.upload else None,
        "input_mime": req.upload.mime if req.upload else None,
        "input_size": req.upload.size if req.upload else None,
        "idempotency_key": req.idempotency_key,
        "hash_provided": req.hash_field is not None,
        "hash_matched": req.hash_matched,
        "host": _HOST,
        "started_at": now,
        "deadline_at": now + dt.timedelta(seconds=deadline - time.monotonic()),
        "metadata_json": req.metadata,
    }
