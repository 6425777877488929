"""IngestService: the pipeline of one ingest (or admin test-run).

claim → prepare → call the slot's chain of providers under the deadline → store → answer.
The Intake has already checked the request; the ledger owns every row write
and its transaction; duplicates, provider calls and provider-media links each
have a module of their own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable

from photochanger.clock import utcnow
from photochanger.errors import (
    DATABASE_DOWN,
    RETRY_AFTER_UNAVAILABLE,
    ApiError,
    StorageUnavailable,
    is_disk_full,
    quiet_rollback,
)
from photochanger.infra import metrics
from photochanger.infra.background import in_cpu_thread, in_thread
from photochanger.infra.shared_permits import Releasable
from photochanger.ingest.after_answer import after_answer
from photochanger.ingest.chain_call import call_chain
from photochanger.ingest.duplicates import await_duplicate, find_duplicate, replay
from photochanger.ingest.early_shrink import prepare_job, then_release
from photochanger.ingest.finishing import finish
from photochanger.ingest.ledger import Ledger, claim_values, media_row
from photochanger.ingest.outcome import IngestRequest, IngestSuccess, StepFailure
from photochanger.ingest.provider_call import AttemptLog
from photochanger.ingest.publishing import Publications
from photochanger.ingest.step_runner import StepRunner
from photochanger.jobs.input_retention import retire_input
from photochanger.links import result_page_url
from photochanger.media import images
from photochanger.media.storage import input_path, result_dir, result_path
from photochanger.models import JobStatus, MediaKind
from photochanger.providers.base import ImageInput, ProviderDriver, ProviderJob, ProviderResult
from photochanger.runtime import AppServices
from photochanger.settings.provider_keys import provider_api_key
from photochanger.settings.store import RuntimeSettings
from photochanger.slots.snapshot import SlotSnapshot

__all__ = ["IngestRequest", "IngestService", "IngestSuccess"]

log = logging.getLogger("photochanger.ingest")

RETRY_AFTER_SECONDS = 5


class _Replay(Exception):
    """The request was answered before: its earlier result is the answer."""

    def __init__(self, success: IngestSuccess) -> None:
        super().__init__(success.job_id)
        self.success = success


class IngestService:
    """Runs one ingest (or admin test-run, or integration API task) through the pipeline.

    ``booth_reserve`` permits of each slot and provider limit are left to booths:
    background work (the integration API's tasks) takes only the lower-numbered
    permits, so at least that many stay free for booths whatever it does (never
    fewer than one permit for itself, so with a limit of 1 it still runs).
    """

    def __init__(
        self,
        svc: AppServices,
        settings: RuntimeSettings,
        base_url: str,
        spawn: Callable[[Callable[[], None]], None],
        booth_reserve: int = 0,
    ) -> None:
        self.svc = svc
        self.settings = settings
        self.base_url = base_url
        self.spawn = spawn
        self.booth_reserve = booth_reserve
        self.ledger = Ledger()

    def run(self, slot: SlotSnapshot, req: IngestRequest) -> IngestSuccess:
        """The processed image, or :class:`ApiError` with the documented status."""
        deadline = req.arrival + self.settings.sync_response_seconds
        driver = self.svc.drivers.get(slot.provider)
        if driver is None:
            raise ApiError("not_configured", f"Провайдер «{slot.provider}» не установлен")
        self.ledger.abandon()  # hold no transaction (or connection) across the wait
        try:
            job_id, leases, running = self._claim(slot, req, deadline)
        except _Replay as earlier:
            return earlier.success
        if running is not None:
            message = f"Обработка не уложилась в {self.settings.sync_response_seconds} с"
            return await_duplicate(self.ledger, self.svc.store, running, deadline, message)
        try:
            return self._process(job_id, slot, driver, req, deadline)
        finally:
            for lease in leases:
                lease.release()

    # -- claim --------------------------------------------------------------

    def _claim(
        self, slot: SlotSnapshot, req: IngestRequest, deadline: float
    ) -> tuple[str, list[Releasable], str | None]:
        """The new job with its permits, or the id of the same request's running job.

        A mutex per slot (across hosts with Redis) makes check-and-insert
        atomic, so two replays of one request never both reach the provider.
        """
        with self.svc.permits.mutex(f"idem-{slot.id}"):
            dup = find_duplicate(self.ledger, self.settings.result_ttl, slot, req)
            if dup is not None:
                if dup.status != JobStatus.DONE:
                    return "", [], dup.job_id
                earlier = replay(self.svc.store, dup)
                if earlier is not None:
                    raise _Replay(earlier)
            job_id = uuid.uuid4().hex
            leases = self._permits(slot, job_id)
            self.ledger.claim(**claim_values(job_id, slot, req, deadline))
            return job_id, leases, None

    def _permits(self, slot: SlotSnapshot, job_id: str) -> list[Releasable]:
        """Slot and provider permits with the job's heartbeat, or 429 ``slot_busy`` / ``provider_busy``."""
        permits = self.svc.permits
        slot_lease = permits.try_acquire(
            f"slot-{slot.id}", self._share(self.settings.concurrency_per_slot), job_id
        )
        if slot_lease is None:
            raise ApiError("slot_busy", retry_after=RETRY_AFTER_SECONDS)
        limit = self._share(self.settings.concurrency_per_provider)
        provider_lease = permits.try_acquire(f"provider-{slot.provider}", limit, job_id)
        if provider_lease is None:
            slot_lease.release()
            raise ApiError("provider_busy", retry_after=RETRY_AFTER_SECONDS)
        heartbeat = permits.heartbeat(job_id)
        return [slot_lease, provider_lease] + ([heartbeat] if heartbeat is not None else [])

    def _share(self, limit: int) -> int:
        """The permits this caller may use: lock files ``0 .. n-1`` of the limit's ``0 .. limit-1``."""
        return max(1, limit - self.booth_reserve) if self.booth_reserve else limit

    # -- process: prepare → provider → store ----------------------------------

    def _process(
        self, job_id: str, slot: SlotSnapshot, driver: ProviderDriver, req: IngestRequest, deadline: float
    ) -> IngestSuccess:
        ttl_until = utcnow() + self.settings.result_ttl
        links = Publications(self.svc.store, self.ledger, self.base_url)
        journal = AttemptLog()
        try:
            steps = self._prepare(job_id, slot, driver, req, deadline, ttl_until, links, journal)
            result, answered = call_chain(slot.chain, deadline, steps, job_id)
            success, out_rel = self._store(job_id, slot, req, result, journal, answered, ttl_until)
        except StepFailure as failure:
            self._fail(job_id, slot, req, failure, journal)
            raise failure.api_error(job_id) from None
        except StorageUnavailable as exc:
            # Nothing half-stored: S3 writes are whole objects or none, and a
            # row is recorded only after its object was written.
            self.ledger.abandon()
            self._fail(job_id, slot, req, StepFailure("storage_unavailable", str(exc), 0), journal)
            raise ApiError("storage_unavailable", job_id=job_id, retry_after=RETRY_AFTER_UNAVAILABLE) from exc
        except DATABASE_DOWN:
            quiet_rollback()
            raise  # answered 503 database_unavailable; the sweep fails the job row later
        except Exception as exc:
            self.ledger.abandon()
            if is_disk_full(exc):
                full = StepFailure("storage_full", f"{type(exc).__name__}: {exc}", 0)
                self._fail(job_id, slot, req, full, journal)
                raise full.api_error(job_id) from exc
            log.exception("ingest.bug", extra={"event": "ingest.bug", "job_id": job_id, "slot_id": slot.id})
            self._fail(job_id, slot, req, StepFailure("internal", f"{type(exc).__name__}: {exc}", 0), journal)
            raise ApiError("internal", job_id=job_id) from exc
        finally:
            links.retire()
        # The preview reads the stored file when it runs: a queue of pending
        # previews must not hold every result of a burst in memory.
        # One deferred task: the input is deleted (or given its keeping time) once the answer is out.
        store, keep = self.svc.store, self.settings.keep_input_hours
        self.spawn(lambda: after_answer(store, slot.id, job_id, out_rel, keep))
        self._finished(job_id, slot, req, journal, success.provider or slot.provider)
        return success

    def _prepare(
        self,
        job_id: str,
        slot: SlotSnapshot,
        driver: ProviderDriver,
        req: IngestRequest,
        deadline: float,
        ttl_until: dt.datetime,
        links: Publications,
        journal: AttemptLog,
    ) -> StepRunner:
        """Store the photo with its row and start the first step's preparation; the chain's steps.

        A text-to-image operation gets no photo (one a booth sent is still stored, as every input is).
        """
        upload = req.upload
        sends_photo = upload is not None and driver.uses_photo(slot.operation)
        pjob = ProviderJob(
            job_id=job_id,
            slot_id=slot.id,
            operation=slot.operation,
            settings=slot.settings,
            photo=ImageInput(upload.data, upload.mime, "photo")
            if upload is not None and sends_photo
            else None,
            templates=self._templates(slot),
            # From the settings loaded with this request: no SELECT, so no transaction
            # pins a pooled connection for the whole provider call.
            api_key=provider_api_key(slot.provider, self.settings.raw),
        )
        early = req.early if sends_photo else None
        in_rel = self._store_input(job_id, slot, req)
        stored = self._stored_reader(in_rel)
        prepared = None
        if not driver.input_urls:
            # The photo is on disk now: unless a shrink begun while it arrived still
            # reads it, its bytes are dropped at once and the driver's preparation
            # (in a thread, its CPU work off the event loop) reads the stored file.
            # Ingests queued for a preparation thread then hold no photo in memory.
            reading = early if early is not None and early.reading else None
            if reading is None and upload is not None:
                upload.release()
                if pjob.photo is not None:
                    pjob = dataclasses.replace(pjob, photo=ImageInput(b"", upload.mime, "photo"))
            prepared = in_thread(prepare_job, driver, pjob, reading, stored)
        if upload is None or in_rel is None:
            self.ledger.record_started(job_id)
        else:
            # Recorded at once, so the stored photo is never without its row.
            row = media_row(MediaKind.INPUT, in_rel, upload.mime, upload.size, job_id, slot.id, ttl_until)
            self.ledger.record_input(job_id, row)
        if prepared is not None:
            first = then_release(prepared, upload)
        else:
            sent_rel = in_rel if sends_photo else None
            photo, templates = links.publish(job_id, slot, sent_rel, pjob.photo, pjob.templates, deadline)
            published = dataclasses.replace(pjob, photo=photo, templates=templates)
            if upload is not None:
                upload.release()  # the provider fetches the stored file by its link
            first = lambda: published  # noqa: E731 - the same shape as in_thread's waiter
        return StepRunner(
            self.svc,
            self.settings,
            slot,
            job_id,
            first,
            # A fallback step reads the stored photo when it begins, not from memory.
            ImageInput(b"", upload.mime, "photo") if upload is not None else None,
            in_rel,
            stored,
            pjob.templates,
            links,
            deadline,
            journal,
        )

    def _store_input(self, job_id: str, slot: SlotSnapshot, req: IngestRequest) -> str | None:
        """Keep the booth photo (the spool renamed into place, else written); its path, or ``None``."""
        upload = req.upload
        if upload is None:
            return None
        in_rel = input_path(slot.id, job_id, images.EXT_BY_MIME[upload.mime])
        if req.spool is None or not req.spool.keep(in_rel, upload.size):
            if upload.on_disk:  # the spool was the photo's only copy
                spool_error = req.spool.error if req.spool is not None else None
                raise spool_error or OSError("the photo's spool could not be stored")
            self.svc.store.write_atomic(in_rel, upload.data)
        return in_rel

    def _stored_reader(self, in_rel: str | None) -> Callable[[], bytes] | None:
        """Reads the stored input photo (none for a text-to-image run without one)."""
        if in_rel is None:
            return None
        store = self.svc.store
        return lambda: store.read(in_rel)

    def _templates(self, slot: SlotSnapshot) -> tuple[ImageInput, ...]:
        out = []
        for kind, rel, mime in slot.templates:
            try:
                out.append(ImageInput(self.svc.store.read(rel), mime, kind))
            except OSError as exc:
                raise StepFailure("not_configured", f"template file missing: {rel}", 0) from exc
        return tuple(out)

    def _store(
        self,
        job_id: str,
        slot: SlotSnapshot,
        req: IngestRequest,
        result: ProviderResult,
        journal: AttemptLog,
        answered: int,
        ttl_until: dt.datetime,
    ) -> tuple[IngestSuccess, str]:
        """Write the result and its row; the success opened for the answer, and its path."""
        step = slot.chain[answered]
        page_url = result_page_url(self.base_url, job_id)  # known before the bytes: the QR links to it
        # The answering step's format and quality; the QR code is the slot's, whichever step answered.
        finishing = {**step.settings, "qr": slot.settings.get("qr")}
        data, mime = in_cpu_thread(finish, result, finishing, page_url)()
        out_rel = result_path(slot.id, job_id, images.EXT_BY_MIME[mime])
        body, size = self.svc.store.write_opened(out_rel, data)
        self.ledger.record_result(
            job_id,
            media_row(MediaKind.RESULT, out_rel, mime, len(data), job_id, slot.id, ttl_until),
            finished_at=utcnow(),
            duration_ms=_elapsed_ms(req.arrival),
            provider_attempts=journal.calls,
            provider_id=step.provider,
            attempts_json=journal.entries,
            answered_step=answered,
            result_path=out_rel,
            result_mime=mime,
            result_size=len(data),
            result_expires_at=ttl_until,
        )
        return IngestSuccess(job_id, body, size, mime, provider=step.provider), out_rel

    # -- outcome ------------------------------------------------------------

    def _finished(
        self, job_id: str, slot: SlotSnapshot, req: IngestRequest, journal: AttemptLog, provider: str
    ) -> None:
        metrics.ingest_finished(slot.id, provider, "done", None, time.monotonic() - req.arrival)
        log.info(
            "ingest.done",
            extra={
                "event": "ingest.done",
                "job_id": job_id,
                "slot_id": slot.id,
                "provider": provider,
                "outcome": "done",
                "attempts": journal.calls,
                "duration_ms": _elapsed_ms(req.arrival),
            },
        )

    def _fail(
        self, job_id: str, slot: SlotSnapshot, req: IngestRequest, failure: StepFailure, journal: AttemptLog
    ) -> None:
        attempts = journal.calls if journal.entries else failure.attempts
        status = JobStatus.TIMEOUT if failure.reason == "timeout" else JobStatus.FAILED
        try:
            self.svc.store.remove_tree(result_dir(slot.id, job_id))
        except StorageUnavailable:
            pass  # clean-up removes the folder as an orphan once the store answers again
        self.ledger.record_failure(
            job_id,
            status=status,
            failure_reason=failure.reason,
            error_detail=failure.detail[:2000],
            finished_at=utcnow(),
            duration_ms=_elapsed_ms(req.arrival),
            provider_attempts=attempts,
            attempts_json=journal.entries or None,
        )
        store, keep = self.svc.store, self.settings.keep_failed_input_hours
        self.spawn(lambda: retire_input(store, job_id, keep))  # after the answer too
        metrics.ingest_finished(
            slot.id, slot.provider, status, failure.reason, time.monotonic() - req.arrival
        )
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
                "attempts": attempts,
                "duration_ms": _elapsed_ms(req.arrival),
            },
        )


def _elapsed_ms(arrival: float) -> int:
    return int((time.monotonic() - arrival) * 1000)
