"""The background runner of integration API tasks, one per gunicorn worker (a greenlet).

Each worker claims due tasks from the database (:mod:`.tasks`), up to
``API_JOB_CONCURRENCY`` at a time, and runs each in a greenlet through the same
:class:`~photochanger.ingest.service.IngestService` as a booth: claim → provider
→ store, the same provider chain, deadline and per-slot and per-provider permits.

Booths keep priority twice over. A task uses the permits minus ``booth_reserve``
(one), so however many tasks are queued, a booth always finds a permit a task
cannot take; a task that finds none waits :data:`~.tasks.BUSY_PAUSE` and tries
again, without losing an attempt. And while its worker serves a booth, the
runner starts no new task (those running go on), so a booth's photo does not
queue for the worker's CPU or the database behind a batch.

The runner wakes when its worker queues a task and otherwise polls every
``API_POLL_SECONDS``; it also sends due webhooks and takes back the tasks of
dead workers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import logging
import os
import socket
import time

import gevent
from flask import Flask
from gevent.event import Event

from photochanger.errors import DATABASE_DOWN, ApiError, quiet_rollback
from photochanger.extensions import db
from photochanger.infra.background import ingests_in_flight, when_idle
from photochanger.ingest.intake import upload_limit_mb
from photochanger.ingest.outcome import IngestRequest
from photochanger.ingest.service import IngestService
from photochanger.integration import tasks, webhooks
from photochanger.media.upload import Upload, read_upload
from photochanger.models import ApiTask, TaskStatus
from photochanger.runtime import services
from photochanger.settings.store import load_settings
from photochanger.slots.snapshot import ingest_config

log = logging.getLogger("photochanger.integration")

#: Failures another attempt may cure; any other failure is final.
#: ``provider_unavailable`` is an open circuit: the provider may be back by the next attempt.
RETRYABLE = frozenset(
    {"timeout", "network", "provider_5xx", "provider_unavailable", "database_unavailable", "storage_full"}
)
#: Permits of each slot and provider limit no task takes (see the module docstring).
BOOTH_RESERVE = 1
#: Ticks between sweeps for tasks of dead workers.
SWEEP_EVERY = 10
#: How soon the runner looks again while booths hold it back (seconds).
BOOTH_RECHECK = 0.2


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Runner:
    """Claims and runs this worker's share of the queue."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.capacity = int(app.config["API_JOB_CONCURRENCY"])
        self.poll = float(app.config["API_POLL_SECONDS"])
        self.allow_private = bool(app.config["WEBHOOK_ALLOW_PRIVATE"])
        self.wakeup = Event()
        self.running = 0
        self.sending = 0
        self.ticks = 0

    def start(self) -> gevent.Greenlet:
        return gevent.spawn(self._loop)

    def wake(self) -> None:
        self.wakeup.set()

    def _loop(self) -> None:
        while True:
            if ingests_in_flight():  # booths first: not even the queue's queries while one is served
                gevent.sleep(BOOTH_RECHECK)
                continue
            try:
                self.tick()
            except Exception:  # the database may be down: the next tick tries again
                with self.app.app_context():
                    quiet_rollback()
                log.warning(
                    "integration.tick_failed", extra={"event": "integration.tick_failed"}, exc_info=True
                )
            self.wakeup.wait(self.poll)
            self.wakeup.clear()

    def tick(self) -> None:
        """Take back dead workers' tasks now and then; claim and start due tasks and webhooks."""
        with self.app.app_context():
            if self.ticks % SWEEP_EVERY == 0:
                tasks.take_back()
            self.ticks += 1
            lease = dt.timedelta(seconds=load_settings().sync_response_seconds) + tasks.LEASE_MARGIN
            free = 0 if ingests_in_flight() else self.capacity - self.running
            for task_id in tasks.claim_queued(free, worker_name(), lease):
                self.running += 1
                gevent.spawn(self._run, task_id)
            for task_id in webhooks.claim_due(max(0, self.capacity - self.sending)):
                self.sending += 1
                gevent.spawn(self._send, task_id)

    def _run(self, task_id: str) -> None:
        try:
            with self.app.app_context():
                run_task(task_id)
        except Exception:
            log.exception("integration.task_bug", extra={"event": "integration.task_bug", "task_id": task_id})
        finally:
            self.running -= 1
            self.wakeup.set()

    def _send(self, task_id: str) -> None:
        try:
            with self.app.app_context():
                webhooks.deliver(task_id, self.allow_private)
        except Exception:
            log.exception("webhook.bug", extra={"event": "webhook.bug", "task_id": task_id})
        finally:
            self.sending -= 1


def run_task(task_id: str) -> None:
    """One attempt of a claimed task: done, failed, or queued again (see :mod:`.tasks`)."""
    task = db.session.get(ApiTask, task_id)
    if task is None or task.status != TaskStatus.RUNNING:
        return
    values = (
        task.slot_id,
        task.input_path,
        task.prompt,
        task.base_url,
        task.attempts,
        task.name,
        task.key_id,
    )
    slot_id, input_rel, prompt, base_url, attempts, name, key_id = values
    db.session.rollback()
    try:
        settings, slot = ingest_config(slot_id)
        upload = _stored_photo(
            input_rel, name, upload_limit_mb(settings, slot), settings.max_photo_megapixels
        )
        if prompt is not None:  # a text-to-image task: its prompt stands in for the slot's own
            slot = dataclasses.replace(slot, settings={**slot.settings, "prompt": prompt})
        req = IngestRequest(
            slot_id=slot.id,
            upload=upload,
            arrival=time.monotonic(),
            source="api",
            metadata={"api_task": task_id, "api_key": key_id, **({"_filename": name} if name else {})},
        )
        service = IngestService(services(), settings, base_url, when_idle, booth_reserve=BOOTH_RESERVE)
        success = service.run(slot, req)
        success.body.close()
    except ApiError as exc:
        _failed(task_id, exc, attempts)
        return
    except DATABASE_DOWN:
        quiet_rollback()
        log.warning(
            "integration.database_down", extra={"event": "integration.database_down", "task_id": task_id}
        )
        return  # still running in the row: its lease runs out and a sweep queues it again
    tasks.finish(task_id, TaskStatus.DONE, job_id=success.job_id)
    log.info(
        "integration.task_done",
        extra={"event": "integration.task_done", "task_id": task_id, "job_id": success.job_id},
    )


def _stored_photo(rel: str | None, name: str | None, limit_mb: int, max_megapixels: int) -> Upload | None:
    if rel is None:
        return None
    try:
        data = services().store.read(rel)
    except OSError:
        raise ApiError("result_not_found", "Исходное фото задачи удалено: срок хранения истёк") from None
    return read_upload(io.BytesIO(data), name, limit_mb, max_megapixels)


def _failed(task_id: str, exc: ApiError, attempts: int) -> None:
    if exc.reason in ("slot_busy", "provider_busy"):
        tasks.requeue(task_id, tasks.BUSY_PAUSE, counted=False)
        return
    if exc.reason in RETRYABLE and attempts < tasks.MAX_ATTEMPTS:
        pause = tasks.RETRY_PAUSES[min(attempts, len(tasks.RETRY_PAUSES)) - 1]
        tasks.requeue(task_id, pause, counted=True, job_id=exc.job_id)
        return
    tasks.finish(task_id, TaskStatus.FAILED, job_id=exc.job_id, failure_reason=exc.reason)
    log.warning(
        "integration.task_failed",
        extra={"event": "integration.task_failed", "task_id": task_id, "failure_reason": exc.reason},
    )


_runner: Runner | None = None


def start_runner(app: Flask) -> gevent.Greenlet:
    """Start this worker's runner (``post_worker_init``)."""
    global _runner
    _runner = Runner(app)
    return _runner.start()


def wake_runner() -> None:
    """A task was queued in this worker: start it now rather than at the next poll."""
    if _runner is not None:
        _runner.wake()
