"""IngestService: job → provider under the deadline → stored result.

The route has already validated the request; this module owns idempotency,
the concurrency limits, the provider call with retries inside the deadline,
the result store and the job row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

import gevent
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from photochanger.clock import utcnow
from photochanger.errors import DATABASE_DOWN, REASONS, ApiError, is_disk_full, quiet_rollback
from photochanger.extensions import db
from photochanger.infra import metrics
from photochanger.infra.autocommit import autocommit
from photochanger.infra.background import in_thread
from photochanger.infra.permits import HostMutex, Lease, try_acquire
from photochanger.ingest import job_rows
from photochanger.ingest.early_shrink import EarlyShrink, prepare_job
from photochanger.jobs.shown import is_shown
from photochanger.links import public_url
from photochanger.media import images
from photochanger.media.previews import ensure_preview
from photochanger.media.spool import InputSpool
from photochanger.media.storage import input_path, provider_media_path, result_dir, result_path
from photochanger.media.upload import Upload
from photochanger.models import JobHistory, JobStatus, MediaKind, MediaObject
from photochanger.providers.base import (
    CallContext,
    FailureKind,
    ImageInput,
    ProviderDriver,
    ProviderError,
    ProviderJob,
    ProviderResult,
)
from photochanger.runtime import AppServices
from photochanger.settings.provider_keys import provider_api_key
from photochanger.settings.store import RuntimeSettings
from photochanger.slots.snapshot import SlotSnapshot

log = logging.getLogger("photochanger.ingest")

#: Time kept back from the provider for storing the result and answering.
STORE_MARGIN = 0.5
#: Backoff before retry n (seconds); capped by the time left.
BACKOFF = (0.3, 0.8, 1.5, 2.5)
RETRY_AFTER_SECONDS = 5
_WAIT_POLL = 0.2
_HOST = socket.gethostname()


class _DeadlineExpired(Exception):
    """Raised by ``gevent.Timeout`` when the ingest deadline runs out."""


@dataclass(frozen=True)
class IngestRequest:
    slot_id: str
    upload: Upload
    arrival: float
    source: str = "ingest"
    hash_field: str | None = None
    hash_matched: bool | None = None
    idempotency_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: a head start on shrinking the photo for the provider, begun during the upload
    early: EarlyShrink | None = None
    #: the photo already written to disk while it arrived
    spool: InputSpool | None = None


@dataclass(frozen=True)
class IngestSuccess:
    """The stored result, opened for the answer.

    The answer streams from the file (gunicorn hands it to ``sendfile``), so no
    worker holds a megabyte-sized result in memory while a booth reads it: a
    burst of 1000 answers of 1.2 MB each would otherwise hold 1.2 GB.
    """

    job_id: str
    body: BinaryIO
    size: int
    mime: str
    replayed: bool = False


def result_url(base_url: str, job_id: str) -> str:
    return public_url(base_url, "public.download_result", job_id=job_id)


def provider_media_url(base_url: str, media_id: str) -> str:
    return public_url(base_url, "public.provider_media", media_id=media_id)


class IngestService:
    """Runs one ingest (or admin test-run) through the pipeline."""

    def __init__(
        self,
        svc: AppServices,
        settings: RuntimeSettings,
        base_url: str,
        spawn: Callable[[Callable[[], None]], None],
    ) -> None:
        self.svc = svc
        self.settings = settings
        self.base_url = base_url
        self.spawn = spawn

    # -- entry point -------------------------------------------------------

    def run(self, snapshot: SlotSnapshot, req: IngestRequest) -> IngestSuccess:
        deadline = req.arrival + self.settings.sync_response_seconds
        driver = self.svc.drivers.get(snapshot.provider)
        if driver is None:
            raise ApiError("not_configured", f"Провайдер «{snapshot.provider}» не установлен")
        db.session.rollback()  # hold no transaction (or connection) across the wait

        try:
            job_id, leases, wait_for = self._claim(snapshot, req, deadline)
        except _Replay as replay:
            return replay.success
        if wait_for is not None:
            return self._await_duplicate(wait_for, deadline)
        assert job_id is not None
        try:
            return self._process(job_id, snapshot, driver, req, deadline)
        finally:
            for lease in leases:
                lease.release()

    # -- idempotency and limits ---------------------------------------------

    def _claim(
        self, slot: SlotSnapshot, req: IngestRequest, deadline: float
    ) -> tuple[str | None, list[Lease], str | None]:
        """Find a duplicate or create the job, holding the concurrency permits.

        A host mutex per slot makes check-and-insert atomic, so two replays of
        one request never both reach the provider.
        """
        with HostMutex(self.svc.lock_dir, f"idem-{slot.id}"):
            # The mutex, not a transaction, makes check-and-insert atomic.
            autocommit()
            dup = self._find_duplicate(slot, req)
            if dup is not None:
                if dup.status == JobStatus.DONE:
                    replay = self._replay(dup)
                    if replay is not None:
                        raise _Replay(replay)
                else:
                    return None, [], dup.job_id
            slot_lease = try_acquire(self.svc.lock_dir, f"slot-{slot.id}", self.settings.concurrency_per_slot)
            if slot_lease is None:
                raise ApiError("slot_busy", retry_after=RETRY_AFTER_SECONDS)
            provider_lease = try_acquire(
                self.svc.lock_dir,
                f"provider-{slot.provider}",
                self.settings.concurrency_per_provider,
            )
            if provider_lease is None:
                slot_lease.release()
                raise ApiError("provider_busy", retry_after=RETRY_AFTER_SECONDS)
            job_id = uuid.uuid4().hex
            now = utcnow()
            job_rows.insert_job(
                job_id=job_id,
                slot_id=slot.id,
                status=JobStatus.PENDING,
                source=req.source,
                provider_id=slot.provider,
                operation=slot.operation,
                slot_version=slot.version,
                input_sha256=req.upload.sha256,
                input_mime=req.upload.mime,
                input_size=req.upload.size,
                idempotency_key=req.idempotency_key,
                hash_provided=req.hash_field is not None,
                hash_matched=req.hash_matched,
                host=_HOST,
                started_at=now,
                deadline_at=now + dt.timedelta(seconds=deadline - time.monotonic()),
                metadata_json=req.metadata,
            )
            db.session.commit()
            return job_id, [slot_lease, provider_lease], None

    def _find_duplicate(self, slot: SlotSnapshot, req: IngestRequest) -> job_rows.MatchRow | None:
        now = utcnow()
        matches = job_rows.recent_matches(
            slot.id,
            now - self.settings.result_ttl,
            idempotency_key=req.idempotency_key,
            sha256=req.upload.sha256,
            version=slot.version,
            source=req.source,
        )
        for job in matches:
            if job.status == JobStatus.DONE:
                if job.result_expires_at and job.result_expires_at > now:
                    return job
            elif job.deadline_at and job.deadline_at > now:
                return job  # still running somewhere within its own deadline
        return None

    def _replay(self, job: _DoneJob) -> IngestSuccess | None:
        if not job.result_path:
            return None
        try:
            body, size = _open_result(self.svc.store.abspath(job.result_path))
        except OSError:
            return None
        log.info("ingest.replay", extra={"event": "ingest.replay", "job_id": job.job_id})
        return IngestSuccess(job.job_id, body, size, job.result_mime or "image/jpeg", replayed=True)

    def _await_duplicate(self, job_id: str, deadline: float) -> IngestSuccess:
        """Wait for the same request's running job within our own deadline."""
        while time.monotonic() < deadline:
            db.session.rollback()
            job = db.session.get(JobHistory, job_id, populate_existing=True)
            if job is None:
                break
            if job.status == JobStatus.DONE:
                replay = self._replay(job)
                if replay is not None:
                    return replay
                break
            if job.status not in JobStatus.RUNNING:
                reason = job.failure_reason or "internal"
                if reason not in REASONS:
                    reason = "internal"
                raise ApiError(reason, job_id=job_id)
            gevent.sleep(min(_WAIT_POLL, max(0.0, deadline - time.monotonic())))
        raise ApiError("timeout", self._timeout_message(), job_id=job_id)

    # -- processing -----------------------------------------------------------

    def _process(
        self,
        job_id: str,
        slot: SlotSnapshot,
        driver: ProviderDriver,
        req: IngestRequest,
        deadline: float,
    ) -> IngestSuccess:
        store = self.svc.store
        ttl_until = utcnow() + self.settings.result_ttl
        upload = req.upload
        in_rel = input_path(slot.id, job_id, images.EXT_BY_MIME[upload.mime])
        published: list[tuple[str, str]] = []
        try:
            templates = self._templates(slot)
            # The key comes from the settings loaded with this request: no SELECT,
            # and in particular none after the commit below, which would open a
            # transaction that pins a pooled connection for the whole provider
            # call (1000 waiting ingests exhausted the pool: 500 "QueuePool limit").
            api_key = provider_api_key(slot.provider, self.settings.raw)
            pjob = ProviderJob(
                job_id=job_id,
                slot_id=slot.id,
                operation=slot.operation,
                settings=slot.settings,
                photo=ImageInput(upload.data, upload.mime, "photo"),
                templates=templates,
                api_key=api_key,
            )
            # The driver's CPU work (downscaling) runs in a thread while the
            # photo is stored and the job recorded: ~10 ms less per ingest. The
            # photo itself may have been shrunk while it was still arriving.
            prepared = in_thread(prepare_job, driver, pjob, req.early) if not driver.input_urls else None
            if req.spool is None or not req.spool.keep(in_rel, upload.size):
                store.write_atomic(in_rel, upload.data)
            # Recorded at once, so the stored photo is never without its row.
            autocommit()
            job_rows.record_input(
                job_id,
                job_rows.media_row(
                    MediaKind.INPUT, in_rel, upload.mime, upload.size, job_id, slot.id, ttl_until
                ),
            )
            db.session.commit()
            if driver.input_urls:
                photo, templates = self._publish(
                    job_id, slot, in_rel, pjob.photo, templates, deadline, published
                )
                pjob = dataclasses.replace(pjob, photo=photo, templates=templates)

            result, attempts = self._call_provider(
                driver, prepared or (lambda: pjob), slot.provider, deadline
            )
            data, mime = _finalise(result, str(slot.settings.get("output_format", "auto")))
            out_rel = result_path(slot.id, job_id, images.EXT_BY_MIME[mime])
            body, size = _open_result(store.write_atomic(out_rel, data))
            finished = utcnow()
            autocommit()
            job_rows.record_result(
                job_id,
                job_rows.media_row(MediaKind.RESULT, out_rel, mime, len(data), job_id, slot.id, ttl_until),
                finished_at=finished,
                duration_ms=_elapsed_ms(req.arrival),
                provider_attempts=attempts,
                result_path=out_rel,
                result_mime=mime,
                result_size=len(data),
                result_expires_at=ttl_until,
            )
            db.session.commit()
        except _Failure as failure:
            self._fail(job_id, slot, req, failure)
            raise failure.api_error(job_id) from None
        except DATABASE_DOWN:
            quiet_rollback()
            raise  # answered 503 database_unavailable; the sweep fails the job row later
        except Exception as exc:
            db.session.rollback()
            if is_disk_full(exc):
                full = _Failure("storage_full", f"{type(exc).__name__}: {exc}", 0)
                self._fail(job_id, slot, req, full)
                raise full.api_error(job_id) from exc
            log.exception("ingest.bug", extra={"event": "ingest.bug", "job_id": job_id, "slot_id": slot.id})
            self._fail(job_id, slot, req, _Failure("internal", f"{type(exc).__name__}: {exc}", 0))
            raise ApiError("internal", job_id=job_id) from exc
        finally:
            self._retire_published(published)
        # The preview reads the stored file when it runs: a queue of pending
        # previews must not hold every result of a burst in memory.
        self.spawn(lambda: build_preview_if_shown(store, slot.id, job_id, out_rel))
        metrics.ingest_finished(slot.id, slot.provider, "done", None, time.monotonic() - req.arrival)
        log.info(
            "ingest.done",
            extra={
                "event": "ingest.done",
                "job_id": job_id,
                "slot_id": slot.id,
                "provider": slot.provider,
                "outcome": "done",
                "attempts": attempts,
                "duration_ms": _elapsed_ms(req.arrival),
            },
        )
        return IngestSuccess(job_id, body, size, mime)

    def _call_provider(
        self,
        driver: ProviderDriver,
        prepared: Callable[[], ProviderJob],
        provider: str,
        deadline: float,
    ) -> tuple[ProviderResult, int]:
        """Call the driver, retrying retryable failures, all inside the deadline.

        ``prepared`` waits for the job the driver prepared (see
        :meth:`ProviderDriver.prepare`); that wait counts against the deadline.
        """
        call_deadline = deadline - STORE_MARGIN
        ctx = CallContext(deadline=call_deadline, session=self.svc.session_for(provider), sleep=gevent.sleep)
        attempts = 0
        budget = max(0.0, call_deadline - time.monotonic())
        attempt_started = time.monotonic()
        try:
            with gevent.Timeout(budget, _DeadlineExpired):
                try:
                    pjob = prepared()
                except ProviderError as exc:  # e.g. an unreadable template: not retryable
                    raise _Failure(exc.kind.value, exc.detail, 1) from None
                while True:
                    attempts += 1
                    attempt_started = time.monotonic()
                    try:
                        result = driver.process(pjob, ctx)
                        metrics.provider_attempt(provider, None, time.monotonic() - attempt_started)
                        return result, attempts
                    except ProviderError as exc:
                        metrics.provider_attempt(provider, exc.kind.value, time.monotonic() - attempt_started)
                        if exc.kind is FailureKind.TIMEOUT:
                            raise _Failure("timeout", exc.detail, attempts) from None
                        pause = BACKOFF[min(attempts - 1, len(BACKOFF) - 1)]
                        if not exc.retryable or ctx.time_left() < pause + 1.0:
                            raise _Failure(exc.kind.value, exc.detail, attempts) from None
                        metrics.provider_retry(provider, exc.kind.value)
                        log.warning(
                            "provider.retry",
                            extra={
                                "event": "provider.retry",
                                "job_id": pjob.job_id,
                                "provider": provider,
                                "failure_reason": exc.kind.value,
                                "attempt": attempts,
                            },
                        )
                        gevent.sleep(pause)
        except _DeadlineExpired:
            metrics.provider_attempt(provider, "timeout", time.monotonic() - attempt_started)
            raise _Failure("timeout", "deadline reached during provider call", attempts) from None

    def _templates(self, slot: SlotSnapshot) -> tuple[ImageInput, ...]:
        out = []
        for kind, rel, mime in slot.templates:
            try:
                out.append(ImageInput(self.svc.store.read(rel), mime, kind))
            except OSError as exc:
                raise _Failure("not_configured", f"template file missing: {rel}", 0) from exc
        return tuple(out)

    def _publish(
        self,
        job_id: str,
        slot: SlotSnapshot,
        in_rel: str,
        photo: ImageInput,
        templates: tuple[ImageInput, ...],
        deadline: float,
        published: list[tuple[str, str]],
    ) -> tuple[ImageInput, tuple[ImageInput, ...]]:
        """Publish inputs at unguessable URLs that expire with the job's deadline.

        Each link is added to ``published`` as soon as its file exists, so the
        caller retires it however this ends.
        """
        expires = utcnow() + dt.timedelta(seconds=max(0.0, deadline - time.monotonic()))
        rows: list[dict[str, Any]] = []

        def publish(src_rel: str, image: ImageInput) -> ImageInput:
            media_id = uuid.uuid4().hex
            rel = provider_media_path(media_id, images.EXT_BY_MIME[image.mime])
            self.svc.store.link_or_copy(src_rel, rel)
            published.append((media_id, rel))
            rows.append(
                job_rows.media_row(
                    MediaKind.PROVIDER_MEDIA,
                    rel,
                    image.mime,
                    len(image.data),
                    job_id,
                    slot.id,
                    expires,
                    media_id,
                )
            )
            return ImageInput(image.data, image.mime, image.role, provider_media_url(self.base_url, media_id))

        new_photo = publish(in_rel, photo)
        new_templates = tuple(
            publish(rel, tpl) for (_, rel, _), tpl in zip(slot.templates, templates, strict=True)
        )
        autocommit()
        job_rows.insert_media(rows)
        db.session.commit()
        return new_photo, new_templates

    def _retire_published(self, published: list[tuple[str, str]]) -> None:
        """Provider-media links die with the job: files removed, links answer 410."""
        if not published:
            return
        for _, rel in published:
            self.svc.store.remove(rel)
        db.session.rollback()
        db.session.execute(
            update(MediaObject)
            .where(MediaObject.id.in_([media_id for media_id, _ in published]))
            .values(cleaned_at=utcnow())
        )
        db.session.commit()

    def _fail(self, job_id: str, slot: SlotSnapshot, req: IngestRequest, failure: _Failure) -> None:
        status = JobStatus.TIMEOUT if failure.reason == "timeout" else JobStatus.FAILED
        self.svc.store.remove_tree(result_dir(slot.id, job_id))
        db.session.execute(
            update(JobHistory)
            .where(JobHistory.job_id == job_id)
            .values(
                status=status,
                failure_reason=failure.reason,
                error_detail=failure.detail[:2000],
                finished_at=utcnow(),
                duration_ms=_elapsed_ms(req.arrival),
                provider_attempts=failure.attempts,
            )
        )
        db.session.commit()
        elapsed = time.monotonic() - req.arrival
        metrics.ingest_finished(slot.id, slot.provider, status, failure.reason, elapsed)
        log.warning(
            "ingest.failed",
            extra={
                "event": "ingest.failed",
                "job_id": job_id,
                "slot_id": slot.id,
                "provider": slot.provider,
                "outcome": status,
                "failure_reason": failure.reason,
                "detail": failure.detail[:300],
                "attempts": failure.attempts,
                "duration_ms": _elapsed_ms(req.arrival),
            },
        )

    def _timeout_message(self) -> str:
        return f"Обработка не уложилась в {self.settings.sync_response_seconds} с"


class _DoneJob(Protocol):
    """What a replay reads of a finished job (an ORM row or a Core row)."""

    job_id: str
    result_path: str | None
    result_mime: str | None


class _Failure(Exception):
    def __init__(self, reason: str, detail: str, attempts: int) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.attempts = attempts

    def api_error(self, job_id: str) -> ApiError:
        return ApiError(self.reason if self.reason in REASONS else "internal", job_id=job_id)


class _Replay(Exception):
    def __init__(self, success: IngestSuccess) -> None:
        super().__init__(success.job_id)
        self.success = success


def _finalise(result: ProviderResult, output_format: str) -> tuple[bytes, str]:
    """Check the provider's bytes are an image and convert when the slot asks."""
    mime = images.sniff_mime(result.data[:16])
    if mime is None:
        raise _Failure("bad_response", f"provider returned non-image bytes ({result.mime})", 1)
    target = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}.get(output_format)
    if target and target != mime:
        return images.convert(result.data, target), target
    return result.data, mime


def build_preview_if_shown(store: Any, slot_id: str, job_id: str, result_rel: str) -> None:
    """The deferred gallery preview, unless no page shows this result any more.

    Run once the worker is idle, in an application context: after a burst,
    most of its results are already outside every gallery and recent list
    (:mod:`~photochanger.jobs.shown`), and a preview costs ~30 ms
    of CPU. One that is skipped is still built if it is ever asked for.
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
    if shown:
        ensure_preview(store, slot_id, job_id, result_rel)


def _open_result(path: str) -> tuple[BinaryIO, int]:
    """The result file opened for the answer, and its size."""
    body = open(path, "rb")  # closed by the WSGI server after the answer
    return body, os.fstat(body.fileno()).st_size


def _elapsed_ms(arrival: float) -> int:
    return int((time.monotonic() - arrival) * 1000)
