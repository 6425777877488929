"""Async jobs of the integration API, in process: queued, run by the runner's code, reported."""

from __future__ import annotations

import io

import gevent
import pytest
from sqlalchemy import select, update

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.infra.background import ingest_in_flight
from photochanger.infra.permits import try_acquire
from photochanger.integration.runner import Runner
from photochanger.integration.tasks import MAX_ATTEMPTS, take_back
from photochanger.integration.webhooks import claim_due, deliver
from photochanger.jobs.shown import gallery_query, live_results_query
from photochanger.models import ApiTask, JobHistory, MediaObject
from photochanger.runtime import services
from tests.support.api_tasks import AlwaysDown, PaintsPrompts, install_driver, run_queue_once
from tests.support.booth import ingest_in_process
from tests.support.images import jpeg_bytes
from tests.support.setup import configure_slot, set_settings
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.db


def _submit(client, key, slot_id="slot-001", photo=None, **fields):
    data = {"slot_id": slot_id, "photo": (io.BytesIO(photo or jpeg_bytes(64, 48)), "a.jpg"), **fields}
    return client.post("/api/v1/jobs", data=data, headers=key, content_type="multipart/form-data")


def _status(client, key, job_id):
    resp = client.get(f"/api/v1/jobs/{job_id}", headers=key)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_a_photo_job_is_accepted_at_once_and_done_in_the_background(app, client, key):
    resp = _submit(client, key)
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "queued"
    assert body["status_url"].endswith(f"/api/v1/jobs/{body['job_id']}")
    assert resp.headers["Location"] == body["status_url"]
    assert _status(client, key, body["job_id"])["status"] == "queued"

    assert run_queue_once(app) == [body["job_id"]]
    done = _status(client, key, body["job_id"])
    assert done["status"] == "done" and done["attempts"] == 1 and done["failure_reason"] is None
    assert done["result_urls"] == [done["result_url"]]
    result = client.get(done["result_url"].replace("http://localhost", ""))
    assert result.status_code == 200 and result.mimetype == "image/jpeg"
    with app.app_context():
        job = db.session.execute(select(JobHistory)).scalar_one()
        assert (job.source, job.status, job.metadata_json["api_task"]) == ("api", "done", body["job_id"])


def test_a_prompt_job_reaches_a_text_to_image_driver_without_a_photo(app, client, key):
    driver = install_driver(app, PaintsPrompts())
    configure_slot(app, "slot-004", provider="paints", operation="text_to_image", settings_json={})
    resp = client.post("/api/v1/jobs", json={"slot_id": "slot-004", "prompt": "кот в шляпе"}, headers=key)
    assert resp.status_code == 202, resp.get_json()
    run_queue_once(app)
    done = _status(client, key, resp.get_json()["job_id"])
    assert done["status"] == "done"
    assert driver.prompts == ["кот в шляпе"]
    with app.app_context():
        job = db.session.execute(select(JobHistory)).scalar_one()
        assert job.input_sha256 is None and job.result_path


def test_a_prompt_for_a_slot_whose_provider_needs_a_photo_is_409_and_nothing_is_queued(app, client, key):
    resp = client.post("/api/v1/jobs", json={"slot_id": "slot-001", "prompt": "кот"}, headers=key)
    assert resp.status_code == 409
    assert resp.get_json()["failure_reason"] == "prompt_not_supported"
    assert "промпт" in resp.get_json()["message"]
    with app.app_context():
        assert db.session.execute(select(ApiTask)).first() is None


@pytest.mark.parametrize(
    "fields,status,reason",
    [
        ({"slot_id": ""}, 400, "bad_request"),
        ({"slot_id": "slot-099"}, 404, "slot_not_found"),
        ({"webhook_url": "ftp://example.com/x"}, 400, "bad_request"),
        ({"webhook_url": "null"}, 400, "bad_request"),
        ({"webhook_url": "http://[abc/hook"}, 400, "bad_request"),
        ({"webhook_url": "http://example.com:99999999/hook"}, 400, "bad_request"),
        ({"photo": (io.BytesIO(b"not an image at all"), "a.jpg")}, 415, "unsupported_media_type"),
    ],
)
def test_bad_photo_jobs_are_refused_with_nothing_stored(app, client, key, fields, status, reason):
    data = {"slot_id": "slot-001", "photo": (io.BytesIO(jpeg_bytes(64, 48)), "a.jpg"), **fields}
    resp = client.post("/api/v1/jobs", data=data, headers=key, content_type="multipart/form-data")
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["failure_reason"] == reason
    with app.app_context():
        assert db.session.execute(select(ApiTask)).first() is None
        assert db.session.execute(select(MediaObject)).first() is None


def test_a_job_without_a_photo_or_body_is_400(client, key):
    resp = client.post(
        "/api/v1/jobs", data={"slot_id": "slot-001"}, headers=key, content_type="multipart/form-data"
    )
    assert resp.status_code == 400 and resp.get_json()["field"] == "photo"
    resp = client.post("/api/v1/jobs", data=b"x", headers={**key, "Content-Type": "text/plain"})
    assert resp.status_code == 400


def test_a_key_scoped_to_other_slots_gets_403(client, auth):
    made = client.post("/api/keys", json={"name": "Узкий", "slot_ids": ["slot-002"]}, headers=auth).get_json()
    resp = _submit(client, {"X-API-Key": made["api_key"]}, "slot-001")
    assert resp.status_code == 403 and resp.get_json()["failure_reason"] == "forbidden"
    assert _submit(client, {"X-API-Key": made["api_key"]}, "slot-002").status_code == 202


def test_another_keys_job_is_404(client, auth, key):
    job_id = _submit(client, key).get_json()["job_id"]
    other = client.post("/api/keys", json={"name": "Другой"}, headers=auth).get_json()
    resp = client.get(f"/api/v1/jobs/{job_id}", headers={"X-API-Key": other["api_key"]})
    assert resp.status_code == 404 and resp.get_json()["failure_reason"] == "job_not_found"


def test_a_busy_slot_keeps_the_job_queued_without_using_an_attempt_and_booths_keep_a_permit(app, client, key):
    set_settings(app, concurrency_per_slot=2)
    job_id = _submit(client, key).get_json()["job_id"]
    with app.app_context():
        lock_dir = services().lock_dir
    held = try_acquire(lock_dir, "slot-slot-001", 1)  # the one permit background work may use
    try:
        run_queue_once(app)
        queued = _status(client, key, job_id)
        assert (queued["status"], queued["attempts"]) == ("queued", 0)
        ingest_in_process(client, jpeg_bytes(64, 48))  # a booth still gets the reserved permit
    finally:
        held.release()
    with app.app_context():
        db.session.execute(update(ApiTask).values(not_before=ApiTask.created_at))
        db.session.commit()
    run_queue_once(app)
    assert _status(client, key, job_id)["status"] == "done"


def test_a_provider_that_stays_down_fails_the_job_after_its_attempts(app, client, key):
    install_driver(app, AlwaysDown())
    configure_slot(app, "slot-003", provider="down", operation="image_edit", settings_json={})
    job_id = _submit(client, key, "slot-003").get_json()["job_id"]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        run_queue_once(app)
        status = _status(client, key, job_id)
        assert status["attempts"] == attempt
        with app.app_context():  # the retry pause is over
            db.session.execute(update(ApiTask).values(not_before=ApiTask.created_at))
            db.session.commit()
    # the provider's failures in a row open its circuit: the last attempts are refused at once
    assert (status["status"], status["failure_reason"], status["result_url"]) == (
        "failed",
        "provider_unavailable",
        None,
    )


def test_running_tasks_of_a_dead_host_queue_again_or_fail_after_their_last_attempt(app, client, key):
    first = _submit(client, key).get_json()["job_id"]
    last = _submit(client, key, photo=jpeg_bytes(60, 40)).get_json()["job_id"]
    with app.app_context():
        db.session.execute(update(ApiTask).values(status="running", claimed_by="booth-host:42"))
        db.session.execute(update(ApiTask).where(ApiTask.id == last).values(attempts=MAX_ATTEMPTS))
        db.session.commit()
        assert take_back("other-host") == 0
        assert take_back("booth-host") == 2
    assert _status(client, key, first)["status"] == "queued"
    failed = _status(client, key, last)
    assert (failed["status"], failed["failure_reason"]) == ("failed", "interrupted")
    run_queue_once(app)
    assert _status(client, key, first)["status"] == "done"


def test_a_webhook_into_a_private_network_is_refused_unless_allowed(app, client, key):
    with WebhookReceiver() as receiver:
        job_id = _submit(client, key, webhook_url=receiver.endpoint).get_json()["job_id"]
        run_queue_once(app)
        with app.app_context():
            assert claim_due(10) == [job_id]
            assert claim_due(10) == []  # claimed once: no other worker sends it
            assert deliver(job_id, allow_private=False) is False
        status = _status(client, key, job_id)
        assert status["webhook"] == {"state": "failed", "attempts": 1}
        assert receiver.requests == []


def test_partner_results_stay_out_of_the_guest_gallery_and_its_zip(app, client, key):
    _submit(client, key)
    run_queue_once(app)
    booth = ingest_in_process(client, jpeg_bytes(70, 50)).headers["X-Job-Id"]
    with app.app_context():
        now = utcnow()
        shown = [job.job_id for job in db.session.execute(gallery_query("slot-001", now)).scalars()]
        zipped = [job.job_id for job in db.session.execute(live_results_query("slot-001", now)).scalars()]
    assert shown == [booth] and zipped == [booth]


def test_the_runner_starts_no_task_while_its_worker_serves_a_booth(app, client, key):
    job_id = _submit(client, key).get_json()["job_id"]
    runner = Runner(app)
    with ingest_in_flight():
        runner.tick()
        assert _status(client, key, job_id)["status"] == "queued"
    runner.tick()
    assert runner.running == 1
    gevent.sleep(0)  # the task's greenlet runs to its end
    assert _status(client, key, job_id)["status"] == "done" and runner.running == 0


def test_a_blank_webhook_field_of_a_form_means_no_webhook(app, client, key):
    resp = _submit(client, key, webhook_url="")
    assert resp.status_code == 202, resp.get_json()
    with app.app_context():
        task = db.session.get(ApiTask, resp.get_json()["job_id"])
        assert task.webhook_url is None and task.webhook_state == "none"


def test_the_answer_says_queued_even_when_the_runner_takes_the_job_at_once(app, client, key, monkeypatch):
    def runner_takes_it_at_once():
        db.session.execute(update(ApiTask).values(status="running"))
        db.session.commit()

    monkeypatch.setattr("photochanger.integration.routes.wake_runner", runner_takes_it_at_once)
    resp = _submit(client, key)
    assert resp.status_code == 202
    assert resp.get_json()["status"] == "queued"
