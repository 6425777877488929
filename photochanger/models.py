"""Typed SQLAlchemy 2.0 models (DESIGN.md §3–§4)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from photochanger.clock import utcnow
from photochanger.extensions import db


class UTCDateTime(db.TypeDecorator):  # type: ignore[name-defined]
    """Timezone-aware UTC datetimes on PostgreSQL and on SQLite alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class JobStatus:
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    TIMEOUT = "timeout"
    FAILED = "failed"
    RUNNING = (PENDING, PROCESSING)


class MediaKind:
    RESULT = "result"
    PREVIEW = "preview"
    INPUT = "input"
    TEMPLATE = "template"
    PROVIDER_MEDIA = "provider_media"
    TEMP = "temp"


class Slot(db.Model):  # type: ignore[name-defined]
    __tablename__ = "slot"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(32))
    operation: Mapped[str] = mapped_column(String(64))
    settings_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    size_limit_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gallery_token: Mapped[str] = mapped_column(String(64))
    #: the first step's retry policy and time share, and the fallback steps (slots/chain.py)
    chain_json: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(100), nullable=True)

    templates: Mapped[list[SlotTemplateMedia]] = relationship(
        back_populates="slot", order_by="SlotTemplateMedia.position", cascade="all, delete-orphan"
    )


class MediaObject(db.Model):  # type: ignore[name-defined]
    __tablename__ = "media_object"
    __table_args__ = (
        Index("ix_media_object_expiry", "cleaned_at", "expires_at"),
        Index("ix_media_object_job", "job_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    slot_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    #: path relative to MEDIA_ROOT
    path: Mapped[str] = mapped_column(String(500))
    mime: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cleaned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SlotTemplateMedia(db.Model):  # type: ignore[name-defined]
    __tablename__ = "slot_template_media"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slot_id: Mapped[str] = mapped_column(ForeignKey("slot.id", ondelete="CASCADE"), index=True)
    media_kind: Mapped[str] = mapped_column(String(32))
    media_object_id: Mapped[str] = mapped_column(ForeignKey("media_object.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)

    slot: Mapped[Slot] = relationship(back_populates="templates")
    media: Mapped[MediaObject] = relationship()


class JobHistory(db.Model):  # type: ignore[name-defined]
    __tablename__ = "job_history"
    __table_args__ = (
        Index("ix_job_slot_started", "slot_id", "started_at"),
        Index("ix_job_started", "started_at"),
        Index("ix_job_status", "status"),
        # "latest success / latest error of a slot" is an index probe even for a
        # slot that never failed (else the stats page scans the slot's history).
        Index("ix_job_slot_status_started", "slot_id", "status", "started_at"),
        Index("ix_job_idempotency", "slot_id", "idempotency_key"),
        Index("ix_job_input", "slot_id", "input_sha256", "slot_version"),
    )

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    slot_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.PENDING)
    source: Mapped[str] = mapped_column(String(16), default="ingest")
    provider_id: Mapped[str] = mapped_column(String(32))
    operation: Mapped[str] = mapped_column(String(64))
    slot_version: Mapped[int] = mapped_column(Integer)
    input_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    input_mime: Mapped[str | None] = mapped_column(String(32), nullable=True)
    input_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    hash_provided: Mapped[bool] = mapped_column(Boolean, default=False)
    hash_matched: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    host: Mapped[str | None] = mapped_column(String(100), nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    provider_attempts: Mapped[int] = mapped_column(Integer, default=0)
    failure_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    result_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    result_mime: Mapped[str | None] = mapped_column(String(32), nullable=True)
    result_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    result_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: every provider attempt: ``{"step", "provider", "outcome", "duration_ms"}`` in order
    attempts_json: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    #: the chain step (0 = the slot's own provider) whose image is the result
    answered_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: set when an admin hid the result from the public galleries and their ZIPs (a guest asked)
    hidden_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: set when an admin pinned the result to the top of its gallery
    pinned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AppSetting(db.Model):  # type: ignore[name-defined]
    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class JobRollupDay(db.Model):  # type: ignore[name-defined]
    """A UTC day whose ``job_history`` rows are summed up in :class:`JobDayRollup`.

    Triggers (migration 0003) delete the marker whenever a row of that day is
    inserted, deleted or changes a counted column, so a marked day is exact.
    """

    __tablename__ = "job_rollup_day"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    rolled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobDayRollup(db.Model):  # type: ignore[name-defined]
    """Job counts of one UTC day per slot, source, status, failure reason and hash flags."""

    __tablename__ = "job_day_rollup"
    __table_args__ = (Index("ix_job_day_rollup_day", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[dt.date] = mapped_column(Date)
    slot_id: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    hash_provided: Mapped[bool] = mapped_column(Boolean)
    hash_matched: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    jobs: Mapped[int] = mapped_column(Integer)


class GalleryShare(db.Model):  # type: ignore[name-defined]
    """A time-limited public link to the galleries of all slots; revocable by admins."""

    __tablename__ = "gallery_share"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConfigGeneration(db.Model):  # type: ignore[name-defined]
    """One row whose number moves whenever settings, slots or slot templates change.

    Triggers (migration 0004) bump it on every insert, update or delete of
    ``app_settings``, ``slot`` and ``slot_template_media``; workers compare it
    with the number their cached copy was read at (:mod:`photochanger.slots.snapshot`).
    """

    __tablename__ = "config_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)


class RevokedToken(db.Model):  # type: ignore[name-defined]
    """An admin token ended by ``POST /api/logout`` before it expires (migration 0005).

    Kept until the token's own expiry; every admin request checks its ``jti`` here,
    so a logout holds in every worker and on every host of the database.
    """

    __tablename__ = "revoked_token"
    __table_args__ = (Index("ix_revoked_token_expires", "expires_at"),)

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ApiKey(db.Model):  # type: ignore[name-defined]
    """An integration API key (migration 0009): only its SHA-256 is stored, never the key.

    ``slot_ids`` ``None`` allows every slot. The webhook secret signs this key's
    webhook calls, so the server must read it back: it is kept Fernet-encrypted
    (:mod:`photochanger.infra.secrets`), like provider keys.
    """

    __tablename__ = "api_key"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    webhook_secret_enc: Mapped[str] = mapped_column(Text)
    slot_ids: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=60)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    request_count: Mapped[int] = mapped_column(BigInteger, default=0)


class TaskStatus:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    OPEN = (QUEUED, RUNNING)


class ApiTask(db.Model):  # type: ignore[name-defined]
    """One photo (or prompt) of the integration API, run in the background (migration 0009).

    Each attempt is an ordinary ``job_history`` row (``source = "api"``);
    ``job_id`` names the latest, whose public link is the result.
    """

    __tablename__ = "api_task"
    __table_args__ = (
        Index("ix_api_task_queue", "status", "not_before"),
        Index("ix_api_task_batch", "batch_id", "position"),
        Index("ix_api_task_webhook", "webhook_state", "webhook_next_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: the API key that sent it; None for an admin's job or batch (migration 0010)
    key_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    slot_id: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: the photo's file name in its batch (a ZIP member's or an uploaded part's, without folders)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: the stored photo, relative to MEDIA_ROOT (None for a prompt)
    input_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    input_mime: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: a queued task waits until then (backoff after a busy slot or a failed attempt)
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: a running task whose worker has not finished it by then is taken back (a dead worker)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: ``host:pid`` of the worker running it: a restarted host takes its tasks back at once
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: the public base URL the task was submitted on: links for providers and webhooks
    base_url: Mapped[str] = mapped_column(String(500))
    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    #: none | pending | delivered | failed
    webhook_state: Mapped[str] = mapped_column(String(16), default="none")
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0)
    webhook_next_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiBatch(db.Model):  # type: ignore[name-defined]
    """A batch of photos (a ZIP and/or separate files) for one slot; its photos are :class:`ApiTask` rows."""

    __tablename__ = "api_batch"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: the API key that sent it; None for an admin's batch (migration 0010)
    key_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    slot_id: Mapped[str] = mapped_column(String(32))
    total: Mapped[int] = mapped_column(Integer)
    #: files of the ZIP refused one by one (not photos): name -> failure reason
    rejected_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the admin who sent it (None for a key's batch)
    created_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
