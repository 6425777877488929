"""Async jobs over real HTTP to gunicorn with 2 workers: restarts, webhooks."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.api_keys import admin_bearer, api_post, new_key
from tests.support.images import jpeg_bytes
from tests.support.mock_gemini import MockGemini
from tests.support.mockserver import step
from tests.support.setup import gemini_slot
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.db


def submit(url: str, key: str, slot_id: str = "slot-001", photo: bytes | None = None, **fields: str):
    files = {"photo": ("a.jpg", photo or jpeg_bytes(64, 48), "image/jpeg")}
    resp = api_post(url, key, "jobs", slot_id, files, **fields)
    assert resp.status_code == 202, resp.text
    return resp.json()


def wait_for(url: str, key: str, job_id: str, until, timeout: float = 60.0) -> dict:
    end = time.monotonic() + timeout
    while True:
        body = requests.get(f"{url}/api/v1/jobs/{job_id}", headers={"X-API-Key": key}, timeout=10).json()
        if until(body):
            return body
        assert time.monotonic() < end, body
        time.sleep(0.1)


def finished(body: dict) -> bool:
    return body["status"] in ("done", "failed")


def test_queued_jobs_survive_a_restart_and_finish_on_the_next_server(live_server):
    idle = live_server(workers=2, API_JOB_CONCURRENCY="0")  # takes jobs, runs none
    key = new_key(idle.url, admin_bearer(idle.url), rate_per_minute=6000)["api_key"]
    jobs = [submit(idle.url, key, photo=jpeg_bytes(64 + n, 48))["job_id"] for n in range(3)]
    idle.stop()

    server = live_server(workers=2, API_POLL_SECONDS="0.2")
    results = [wait_for(server.url, key, job_id, finished) for job_id in jobs]
    assert [r["status"] for r in results] == ["done"] * 3
    for r in results:
        assert requests.get(r["result_url"], timeout=10).status_code == 200


def test_a_job_running_when_the_server_stops_runs_again_after_the_restart(app, live_server):
    with MockGemini() as gemini:
        gemini_slot(app, "slot-001")
        gemini.enqueue(step("hang", seconds=60))  # the first call never ends before the stop
        env = {"GEMINI_API_BASE": gemini.url, "GEMINI_API_KEY": "k", "API_POLL_SECONDS": "0.2"}
        first = live_server(workers=2, **env)
        key = new_key(first.url, admin_bearer(first.url), rate_per_minute=6000)["api_key"]
        job_id = submit(first.url, key)["job_id"]
        wait_for(first.url, key, job_id, lambda b: b["status"] == "running")
        while not gemini.generate_requests:
            time.sleep(0.05)
        first.stop()

        server = live_server(workers=2, **env)
        done = wait_for(server.url, key, job_id, finished)
        assert (done["status"], done["attempts"]) == ("done", 2)
        assert len(gemini.generate_requests) == 2


def test_the_webhook_is_signed_retried_and_accepted_once(live_server):
    with WebhookReceiver() as receiver:
        receiver.enqueue("unavailable")  # the first try fails: the runner tries again later
        server = live_server(workers=2, API_POLL_SECONDS="0.2", WEBHOOK_ALLOW_PRIVATE="1")
        made = new_key(server.url, admin_bearer(server.url), rate_per_minute=6000)
        job_id = submit(server.url, made["api_key"], webhook_url=receiver.endpoint)["job_id"]
        status = wait_for(server.url, made["api_key"], job_id, lambda b: b["webhook"]["state"] == "delivered")
        assert status["webhook"]["attempts"] == 2
        time.sleep(1.0)  # nothing else arrives
        calls = list(receiver.requests)
        assert len(calls) == 2
        for call in calls:
            assert WebhookReceiver.signature_ok(call, made["webhook_secret"])
            assert not WebhookReceiver.signature_ok(call, "whsec_other")
            assert call.headers["x-photochanger-delivery"] == job_id
        body = calls[-1].json
        assert body["event"] == "job.finished" and body["job_id"] == job_id
        assert body["status"] == "done" and body["result_url"] == status["result_url"]
