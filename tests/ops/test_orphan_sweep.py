"""Jobs of a worker killed mid-ingest become failed/``interrupted`` while the server runs."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time

import requests

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.models import JobHistory, JobStatus
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.mock_gemini import MockGemini
from tests.support.mockserver import step
from tests.support.setup import gemini_slot, set_settings
from tests.support.stack import GEMINI_TEST_KEY


def _workers(master_pid: int) -> list[int]:
    """The gunicorn master's children (its workers)."""
    with open(f"/proc/{master_pid}/task/{master_pid}/children") as fh:
        return [int(pid) for pid in fh.read().split()]


def _running_job(app) -> str | None:
    with app.app_context():
        return db.session.execute(
            db.select(JobHistory.job_id).where(JobHistory.status.in_(JobStatus.RUNNING))
        ).scalar()


def test_jobs_of_a_killed_worker_fail_within_two_minutes(app, live_server):
    with MockGemini(api_key=GEMINI_TEST_KEY, default=step("hang", seconds=60)) as gemini:
        gemini_slot(app)
        set_settings(app, sync_response_seconds=10)
        server = live_server(
            workers=2, GEMINI_API_BASE=gemini.url, GEMINI_API_KEY=GEMINI_TEST_KEY, JOB_SWEEP_SECONDS="3"
        )
        booth = threading.Thread(target=lambda: _post_ignoring_reset(server.url), daemon=True)
        booth.start()
        end = time.monotonic() + 10
        while (job_id := _running_job(app)) is None and time.monotonic() < end:
            time.sleep(0.05)
        assert job_id is not None
        for pid in _workers(server.proc.pid):
            os.kill(pid, signal.SIGKILL)  # the worker that holds the ingest dies with it
        killed = time.monotonic()

        status = None
        while time.monotonic() - killed < 120:
            resp = requests.get(f"{server.url}/api/jobs/{job_id}", timeout=5)
            status = resp.json()
            if status["status"] != "processing" and status["status"] != "pending":
                break
            time.sleep(1)
        assert (status or {}).get("status") == "failed", status
        assert status["failure_reason"] == "interrupted"
        # Its deadline (10 s) plus the margin, plus one sweep interval at most.
        assert time.monotonic() - killed < 10 + 30 + 3 * 1.2 + 5


def _post_ignoring_reset(url: str) -> None:
    try:
        post_photo(url, jpeg_bytes(), timeout=60)
    except requests.RequestException:
        pass  # the worker died mid-answer


def test_cleanup_media_fails_orphans_and_leaves_live_jobs(app, runner):
    now = utcnow()
    with app.app_context():
        for job_id, deadline in (("a" * 32, now - dt.timedelta(seconds=31)), ("b" * 32, now)):
            db.session.add(
                JobHistory(
                    job_id=job_id,
                    slot_id="slot-001",
                    status=JobStatus.PROCESSING,
                    provider_id="local",
                    operation="identity",
                    slot_version=1,
                    host="another-host",
                    started_at=deadline - dt.timedelta(seconds=10),
                    deadline_at=deadline,
                )
            )
        db.session.commit()
    result = runner.invoke(args=["cleanup-media"])
    assert result.exit_code == 0, result.output
    assert "interrupted jobs: 1" in result.output
    with app.app_context():
        orphan, live = db.session.get(JobHistory, "a" * 32), db.session.get(JobHistory, "b" * 32)
        assert (orphan.status, orphan.failure_reason) == ("failed", "interrupted")
        assert live.status == JobStatus.PROCESSING
