"""Which results a page shows with a preview: the guest gallery and the admin's recent list."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.jobs.shown import GALLERY_SIZE, RECENT_RESULTS, is_shown
from photochanger.models import JobStatus
from tests.support.jobs import job_row

pytestmark = pytest.mark.db

MINUTE = dt.timedelta(minutes=1)


def _result(minutes_ago: int, source="ingest", slot_id="slot-001", status=JobStatus.DONE, expires_in=60):
    job = job_row(slot_id, status, minutes_ago=minutes_ago, source=source)
    job.finished_at = job.started_at + dt.timedelta(seconds=5)
    if status == JobStatus.DONE:
        job.result_path = f"results/{slot_id}/{job.job_id}/payload.jpg"
        job.result_expires_at = utcnow() + expires_in * MINUTE
    db.session.add(job)
    db.session.commit()
    return job.job_id


def test_both_pages_show_ten_results():
    assert GALLERY_SIZE == RECENT_RESULTS == 10


def test_the_newest_ten_results_are_shown_and_an_older_one_is_not(app):
    with app.app_context():
        oldest_first = [_result(minutes_ago=m) for m in range(11, 0, -1)]
        assert [is_shown("slot-001", job_id) for job_id in oldest_first] == [False] + [True] * 10


def test_an_admin_test_run_is_shown_on_the_admin_page_until_ten_newer_results_exist(app):
    with app.app_context():
        test_run = _result(minutes_ago=30, source="ui_test")
        for m in range(20, 11, -1):
            _result(minutes_ago=m)
        assert is_shown("slot-001", test_run)  # nine newer: still on the admin's list
        _result(minutes_ago=5)
        assert not is_shown("slot-001", test_run)


def test_a_guest_result_stays_in_the_gallery_however_many_test_runs_come_after_it(app):
    with app.app_context():
        guest = _result(minutes_ago=30)
        for m in range(25, 10, -1):
            _result(minutes_ago=m, source="ui_test")
        assert is_shown("slot-001", guest)  # off the admin's list, still in the gallery


def test_expired_failed_and_other_slots_results_push_nothing_out(app):
    with app.app_context():
        result = _result(minutes_ago=30)
        for m in range(20, 5, -1):
            _result(minutes_ago=m, expires_in=-1)
            _result(minutes_ago=m, status=JobStatus.FAILED)
            _result(minutes_ago=m, slot_id="slot-002")
        assert is_shown("slot-001", result)


def test_an_expired_or_unknown_result_is_not_shown(app):
    with app.app_context():
        expired = _result(minutes_ago=3, expires_in=-1)
        assert not is_shown("slot-001", expired)
        assert not is_shown("slot-001", uuid.uuid4().hex)
