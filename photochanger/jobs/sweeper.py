"""The periodic orphan sweep each gunicorn worker runs (see :mod:`.recovery`).

Every worker sweeps, at a jittered interval: the sweep is one idempotent
UPDATE, so several workers or hosts sweeping at once only repeat a no-op,
and jobs of a worker killed with ``kill -9`` are failed while the server runs
instead of at its next restart: with Redis, as soon as the job's heartbeat
lapses, whichever host sweeps.
"""

from __future__ import annotations

import logging
import random

import gevent
from flask import Flask

from photochanger.errors import quiet_rollback
from photochanger.jobs.recovery import mark_lost, mark_orphaned
from photochanger.runtime import services

log = logging.getLogger("photochanger.jobs")


def start_sweeper(app: Flask) -> gevent.Greenlet:
    """Sweep every ``JOB_SWEEP_SECONDS`` (±20 %) in a greenlet of this worker."""
    interval = float(app.config["JOB_SWEEP_SECONDS"])
    return gevent.spawn(_loop, app, interval)


def _loop(app: Flask, interval: float) -> None:
    while True:
        gevent.sleep(interval * random.uniform(0.8, 1.2))  # jitter: workers do not sweep in step
        sweep_once(app)


def sweep_once(app: Flask) -> int:
    """One sweep; failures (the database down) are logged and retried next time."""
    with app.app_context():
        try:
            count = mark_orphaned()
            permits = services().permits
            if permits.redis is not None:
                count += mark_lost(permits.lapsed_jobs)
        except Exception:  # the next sweep tries again
            quiet_rollback()
            log.warning("jobs.sweep_failed", extra={"event": "jobs.sweep_failed"}, exc_info=True)
            return 0
    if count:
        log.warning("jobs.interrupted", extra={"event": "jobs.interrupted", "count": count})
    return count
