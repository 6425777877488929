"""Job status, crash recovery and result links."""

from __future__ import annotations

import datetime as dt
import os
import socket

import pytest
import requests

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.models import JobHistory
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes

pytestmark = pytest.mark.db


def _running_job(app, job_id: str, host: str, started: dt.datetime) -> None:
    with app.app_context():
        db.session.add(
            JobHistory(
                job_id=job_id,
                slot_id="slot-001",
                status="processing",
                provider_id="local",
                operation="filter",
                slot_version=1,
                host=host,
                started_at=started,
                deadline_at=started + dt.timedelta(seconds=48),
            )
        )
        db.session.commit()


def _status(app, job_id: str) -> tuple[str, str | None]:
    with app.app_context():
        job = db.session.get(JobHistory, job_id)
        return job.status, job.failure_reason


def test_jobs_left_running_by_a_crash_are_failed_interrupted_at_start_up(app, live_server):
    now = utcnow()
    _running_job(app, "a" * 32, socket.gethostname(), now)  # this host crashed mid-job
    _running_job(app, "b" * 32, "other-host", now - dt.timedelta(minutes=10))  # long dead elsewhere
    _running_job(app, "c" * 32, "other-host", now)  # alive on another host right now
    live_server()
    assert _status(app, "a" * 32) == ("failed", "interrupted")
    assert _status(app, "b" * 32) == ("failed", "interrupted")
    assert _status(app, "c" * 32) == ("processing", None)


def test_job_status_endpoint(shared):
    server = shared.server
    resp = post_photo(server.url, jpeg_bytes())
    job_id = resp.headers["X-Job-Id"]
    status = requests.get(f"{server.url}/api/jobs/{job_id}", timeout=5)
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == "done"
    assert body["slot_id"] == "slot-001"
    assert body["result_url"] == resp.headers["X-Result-Url"]
    missing = requests.get(f"{server.url}/api/jobs/{'f' * 32}", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["failure_reason"] == "job_not_found"


def test_result_link_answers_410_after_the_ttl_and_removes_the_files(shared):
    app, server = shared.app, shared.server
    resp = post_photo(server.url, jpeg_bytes())
    job_id = resp.headers["X-Job-Id"]
    with app.app_context():
        job = db.session.get(JobHistory, job_id)
        job.result_expires_at = utcnow() - dt.timedelta(seconds=1)
        result_file = app.config["MEDIA_ROOT"] + "/" + job.result_path
        db.session.commit()
    gone = requests.get(resp.headers["X-Result-Url"], timeout=5)
    assert gone.status_code == 410
    assert gone.json() == {
        "status": "error",
        "failure_reason": "result_expired",
        "message": "Срок хранения результата истёк",
    }
    assert not os.path.exists(result_file)
    assert requests.get(f"{server.url}/api/jobs/{job_id}", timeout=5).status_code == 404


def test_unknown_result_is_404_result_not_found(shared):
    server = shared.server
    resp = requests.get(f"{server.url}/public/results/{'0' * 32}", timeout=5)
    assert resp.status_code == 404
    assert resp.json()["failure_reason"] == "result_not_found"
