"""The admin's per-slot clean-up follows the cron's rules: running jobs' files and
shown results stay, expired media go, and overlapping runs remove each file once."""

from __future__ import annotations

import datetime as dt
import os
import threading

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.jobs.cleanup import CleanupSummary, cleanup_media
from photochanger.jobs.shown import gallery_query
from photochanger.media.storage import input_path, preview_path, result_dir, result_path
from photochanger.models import JobHistory, JobStatus, MediaKind, MediaObject
from photochanger.runtime import services
from tests.support.jobs import HOUR, expire_row, job_with_files

from .conftest import ADMIN_PASSWORD, ADMIN_USER

pytestmark = pytest.mark.db

#: Enough expired jobs that overlapping runs meet on the same rows.
RACE_JOBS = 150


def _exists(rel: str) -> bool:
    return os.path.exists(services().store.abspath(rel))


def _unclaimed(job_id: str) -> set[str]:
    rows = db.session.execute(
        db.select(MediaObject.kind).where(MediaObject.job_id == job_id, MediaObject.cleaned_at.is_(None))
    )
    return set(rows.scalars())


def test_a_running_jobs_files_survive_a_manual_slot_cleanup(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    with app.app_context():
        # Rows already expired (clock skew, a short TTL) of a job still inside its deadline.
        running = job_with_files(
            JobStatus.PROCESSING, expires_in=-HOUR, started=utcnow(), deadline_in=dt.timedelta(seconds=40)
        )

    resp = client.post("/api/slots/slot-001/cleanup", headers=auth)

    assert resp.status_code == 200
    assert resp.get_json() == {
        "slot_id": "slot-001",
        "media_cleaned": 0,
        "files_removed": 0,
        "orphan_folders_removed": 0,
        "bytes_freed": 0,
    }
    with app.app_context():
        assert _exists(input_path("slot-001", running, "jpg"))
        assert _exists(result_path("slot-001", running, "jpg"))
        assert _unclaimed(running) == {MediaKind.INPUT, MediaKind.RESULT}


def test_the_newest_shown_result_survives_and_expired_media_go(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    with app.app_context():
        expired = job_with_files(expires_in=-HOUR)
        newest = job_with_files(expires_in=HOUR)
        # Its result row says expired while the job says live (a row written
        # under another TTL): the gallery shows it, so it must stay.
        expire_row(newest, MediaKind.RESULT)
        shown = db.session.execute(gallery_query("slot-001", utcnow())).scalars().all()
        assert [job.job_id for job in shown] == [newest]

    resp = client.post("/api/slots/slot-001/cleanup", headers=auth)

    assert resp.status_code == 200
    report = resp.get_json()
    assert report["media_cleaned"] == 2 and report["files_removed"] == 2  # the expired job's input and result
    assert report["bytes_freed"] == 100 + 100 + 4  # input, payload, preview
    with app.app_context():
        assert not _exists(input_path("slot-001", expired, "jpg"))
        assert not _exists(result_dir("slot-001", expired))
        assert _exists(result_path("slot-001", newest, "jpg")) and _exists(preview_path("slot-001", newest))
        assert _unclaimed(newest) == {MediaKind.INPUT, MediaKind.RESULT}
        assert _unclaimed(expired) == set()


def test_cron_and_clicks_on_two_workers_remove_each_file_once(
    app: Flask, live_server, credentials_file: str
) -> None:
    with app.app_context():
        jobs = [job_with_files(expires_in=-HOUR) for _ in range(RACE_JOBS)]
        live = job_with_files(expires_in=HOUR)
    server = live_server(workers=2)
    login = requests.post(
        f"{server.url}/api/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    start = threading.Barrier(3)
    answers: list[requests.Response] = []
    summaries: list[CleanupSummary] = []

    def click() -> None:
        start.wait()
        # A new connection per click, so both workers take one.
        answers.append(requests.post(f"{server.url}/api/slots/slot-001/cleanup", headers=headers, timeout=60))

    def cron() -> None:
        with app.app_context():
            start.wait()
            summaries.append(cleanup_media(services().store, batch_size=50))
            db.session.remove()

    threads = [threading.Thread(target=fn) for fn in (click, click, cron)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert len(summaries) == 1
    reports = [a.json() for a in answers]
    rows = 2 * RACE_JOBS  # an input and a result each
    assert sum(r["media_cleaned"] for r in reports) + sum(summaries[0].removed.values()) == rows
    assert sum(r["files_removed"] for r in reports) + summaries[0].files_removed == rows
    assert sum(r["bytes_freed"] for r in reports) + summaries[0].bytes_freed == RACE_JOBS * (100 + 100 + 4)
    assert '"level": "error"' not in server.log()
    with app.app_context():
        for job_id in jobs:
            assert not _exists(result_dir("slot-001", job_id))
            assert not _exists(input_path("slot-001", job_id, "jpg"))
        left = db.session.execute(db.select(MediaObject.job_id).where(MediaObject.cleaned_at.is_(None)))
        assert set(left.scalars()) == {live}
        assert db.session.get(JobHistory, live) is not None
        assert _exists(result_path("slot-001", live, "jpg"))


def test_the_settings_pages_global_cleanup_covers_every_slot_in_one_call(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    with app.app_context():
        expired = [
            job_with_files(expires_in=-HOUR, slot_id=slot) for slot in ("slot-001", "slot-009", "slot-015")
        ]
        live = job_with_files(expires_in=HOUR, slot_id="slot-009")

    resp = client.post("/api/media/cleanup", headers=auth)

    assert resp.status_code == 200
    report = resp.get_json()
    assert report["media_cleaned"] == 6 and report["bytes_freed"] > 0 and report["more_left"] is False
    with app.app_context():
        for job_id, slot in zip(expired, ("slot-001", "slot-009", "slot-015"), strict=True):
            assert not _exists(input_path(slot, job_id, "jpg"))
        assert _exists(result_path("slot-009", live, "jpg"))
    assert client.post("/api/media/cleanup").status_code == 401
