"""``GET /api/stats/overview``: the brief's shape, test-runs apart, booth-hash share."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient

from photochanger.extensions import db
from photochanger.models import JobHistory
from tests.support.images import jpeg_bytes
from tests.support.jobs import job_row

pytestmark = pytest.mark.db

BRIEF_SYSTEM_KEYS = {
    "jobs_total",
    "jobs_last_window",
    "timeouts_last_window",
    "provider_errors_last_window",
    "storage_usage_mb",
}
BRIEF_SLOT_KEYS = {
    "slot_id",
    "display_name",
    "is_active",
    "jobs_last_window",
    "timeouts_last_window",
    "provider_errors_last_window",
    "last_success_at",
    "last_error_reason",
}


def _job(
    slot_id: str, status: str, *, minutes_ago: float = 1, reason: str | None = None, **kw: object
) -> JobHistory:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)
    finished = started + dt.timedelta(seconds=3)
    return job_row(slot_id, status, started=started, finished_at=finished, failure_reason=reason, **kw)


def test_empty_overview_has_the_briefs_shape(client: FlaskClient, auth: dict[str, str]) -> None:
    body = client.get("/api/stats/overview", headers=auth).get_json()
    assert body["window_minutes"] == 60
    assert BRIEF_SYSTEM_KEYS <= set(body["system"])
    assert len(body["slots"]) == 15
    assert BRIEF_SLOT_KEYS <= set(body["slots"][0])
    assert body["system"]["jobs_total"] == 0 and body["system"]["hash_match_share"] is None


def test_counts_per_window_and_per_slot(app: Flask, client: FlaskClient, auth: dict[str, str]) -> None:
    with app.app_context():
        db.session.add_all(
            [
                _job("slot-001", "done", hash_provided=True, hash_matched=True),
                _job("slot-001", "done", hash_provided=True, hash_matched=False),
                _job("slot-001", "timeout", reason="timeout"),
                _job("slot-002", "failed", reason="quota"),
                _job("slot-002", "failed", reason="internal"),
                _job("slot-002", "done", minutes_ago=120),  # outside the window
                _job("slot-003", "failed", reason="network", minutes_ago=600),
            ]
        )
        db.session.commit()
    body = client.get("/api/stats/overview?window_minutes=60", headers=auth).get_json()
    system = body["system"]
    assert system["jobs_total"] == 7
    assert system["jobs_last_window"] == 5
    assert system["timeouts_last_window"] == 1
    assert system["provider_errors_last_window"] == 1  # quota; "internal" is ours, not the provider's
    assert (system["hash_provided_last_window"], system["hash_matched_last_window"]) == (2, 1)
    assert system["hash_match_share"] == 0.5
    slots = {s["slot_id"]: s for s in body["slots"]}
    assert slots["slot-001"]["jobs_last_window"] == 3 and slots["slot-001"]["timeouts_last_window"] == 1
    assert slots["slot-001"]["last_error_reason"] == "timeout"
    assert slots["slot-002"]["provider_errors_last_window"] == 1
    assert slots["slot-002"]["last_success_at"] is not None  # the older success still counts as "last"
    assert slots["slot-003"]["jobs_last_window"] == 0 and slots["slot-003"]["last_error_reason"] == "network"
    wide = client.get("/api/stats/overview?window_minutes=720", headers=auth).get_json()
    assert wide["system"]["jobs_last_window"] == 7


def test_a_slots_last_error_is_its_latest_failure_or_timeout_from_a_booth(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    with app.app_context():
        db.session.add_all(
            [
                _job("slot-005", "timeout", reason="timeout", minutes_ago=30),
                _job("slot-005", "failed", reason="quota", minutes_ago=10),
                _job("slot-005", "failed", reason="blocked", minutes_ago=1, source="ui_test"),
                _job("slot-005", "done", minutes_ago=20),
                _job("slot-006", "failed", reason="network", minutes_ago=30),
                _job("slot-006", "timeout", reason="timeout", minutes_ago=5),
            ]
        )
        db.session.commit()
    slots = {s["slot_id"]: s for s in client.get("/api/stats/overview", headers=auth).get_json()["slots"]}
    assert slots["slot-005"]["last_error_reason"] == "quota"  # the admin's test-run is not the booth's
    assert slots["slot-006"]["last_error_reason"] == "timeout"
    assert slots["slot-005"]["last_success_at"] is not None
    assert slots["slot-006"]["last_success_at"] is None
    assert slots["slot-007"]["last_error_at"] is None


def test_test_runs_are_counted_apart(client: FlaskClient, auth: dict[str, str]) -> None:
    photo = {"test_image": (io.BytesIO(jpeg_bytes()), "t.jpg")}
    assert client.post("/api/slots/slot-004/test-run", headers=auth, data=photo).status_code == 200
    data = jpeg_bytes(color=(9, 9, 9))
    booth = {
        "password": "123456",
        "hash": hashlib.sha1(data).hexdigest(),
        "fileToUpload": (io.BytesIO(data), "b.jpg"),
    }
    assert client.post("/ingest/slot-004", data=booth).status_code == 200

    body = client.get("/api/stats/overview", headers=auth).get_json()
    slot = next(s for s in body["slots"] if s["slot_id"] == "slot-004")
    assert (slot["jobs_last_window"], slot["test_runs_last_window"]) == (1, 1)
    assert (body["system"]["jobs_last_window"], body["system"]["test_runs_last_window"]) == (1, 1)
    assert body["system"]["jobs_total"] == 1
    assert body["system"]["hash_match_share"] == 1.0
    assert slot["last_success_at"] is not None
    assert body["system"]["storage_usage_mb"] > 0


@pytest.mark.parametrize("window", ["0", "abc", "20000", "-5"])
def test_a_bad_window_is_400(client: FlaskClient, auth: dict[str, str], window: str) -> None:
    resp = client.get(f"/api/stats/overview?window_minutes={window}", headers=auth)
    assert resp.status_code == 400 and resp.get_json()["field"] == "window_minutes"


def _seed(app: Flask, jobs: list[JobHistory]) -> None:
    with app.app_context():
        db.session.add_all(jobs)
        db.session.commit()


def test_the_slot_filter_narrows_every_figure_to_one_slot(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    _seed(
        app,
        [
            _job("slot-001", "done"),
            _job("slot-001", "timeout", reason="timeout"),
            _job("slot-002", "failed", reason="quota"),
            _job("slot-002", "done", minutes_ago=600),
        ],
    )
    body = client.get("/api/stats/overview?slot_id=slot-002", headers=auth).get_json()
    assert body["slot_id"] == "slot-002"
    assert [s["slot_id"] for s in body["slots"]] == ["slot-002"]
    assert body["system"]["jobs_last_window"] == 1 and body["system"]["jobs_total"] == 2
    assert body["system"]["provider_errors_last_window"] == 1 and body["system"]["timeouts_last_window"] == 0


def test_an_unknown_slot_filter_is_404(client: FlaskClient, auth: dict[str, str]) -> None:
    for path in ("/api/stats/overview", "/api/stats/providers"):
        resp = client.get(f"{path}?slot_id=slot-999", headers=auth)
        assert resp.status_code == 404 and resp.get_json()["failure_reason"] == "slot_not_found"


def test_providers_show_success_rate_and_latency_percentiles(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    done = [_job("slot-001", "done", provider_id="gemini", duration_ms=ms) for ms in range(1000, 21000, 1000)]
    _seed(
        app,
        [
            *done,  # 20 successes: 1 s … 20 s
            _job("slot-002", "failed", reason="network", provider_id="gemini"),
            _job("slot-003", "done", provider_id="local", duration_ms=40),
            _job("slot-003", "done", provider_id="local", duration_ms=40, source="ui_test"),  # not a booth's
            _job("slot-003", "done", provider_id="local", duration_ms=90, minutes_ago=120),  # outside
        ],
    )
    body = client.get("/api/stats/providers?window_minutes=60", headers=auth).get_json()
    rows = {row["provider"]: row for row in body["providers"]}
    assert rows["gemini"] == {
        "provider": "gemini",
        "jobs": 21,
        "succeeded": 20,
        "success_rate": round(20 / 21, 4),
        "latency_p50_ms": 10000,
        "latency_p95_ms": 19000,
    }
    assert (rows["local"]["jobs"], rows["local"]["latency_p95_ms"]) == (1, 40)
    one = client.get("/api/stats/providers?slot_id=slot-003", headers=auth).get_json()
    assert [row["provider"] for row in one["providers"]] == ["local"]


def test_a_reset_restarts_the_counters_and_keeps_the_history(
    app: Flask, client: FlaskClient, auth: dict[str, str], admin_token: str
) -> None:
    _seed(app, [_job("slot-001", "done", duration_ms=900), _job("slot-002", "failed", reason="quota")])
    resp = client.post("/api/stats/reset", headers=auth)
    assert resp.status_code == 200 and resp.get_json()["reset_by"] == "serg"
    _seed(app, [_job("slot-001", "done", minutes_ago=-0.01)])  # after the reset

    body = client.get("/api/stats/overview", headers=auth).get_json()
    assert body["counting_since"] == resp.get_json()["counting_since"] and body["reset_by"] == "serg"
    assert body["system"]["jobs_total"] == 1 and body["system"]["jobs_last_window"] == 1
    assert body["system"]["provider_errors_last_window"] == 0
    providers = client.get("/api/stats/providers", headers=auth).get_json()["providers"]
    assert [(row["provider"], row["jobs"]) for row in providers] == [("local", 1)]
    with app.app_context():
        assert db.session.query(JobHistory).count() == 3  # archived, not deleted


def test_a_reset_needs_an_admin(client: FlaskClient) -> None:
    assert client.post("/api/stats/reset").status_code == 401


def test_a_slots_own_reset_restarts_only_that_slot(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    _seed(
        app, [_job("slot-001", "done"), _job("slot-002", "failed", reason="quota"), _job("slot-002", "done")]
    )
    resp = client.post("/api/stats/reset?slot_id=slot-002", headers=auth)
    assert resp.status_code == 200 and resp.get_json()["slot_id"] == "slot-002"

    body = client.get("/api/stats/overview", headers=auth).get_json()
    slots = {s["slot_id"]: s for s in body["slots"]}
    assert slots["slot-002"]["jobs_last_window"] == 0 and slots["slot-002"]["counting_since"] is not None
    assert slots["slot-001"]["jobs_last_window"] == 1 and slots["slot-001"]["counting_since"] is None
    assert body["system"]["jobs_total"] == 1 and body["system"]["provider_errors_last_window"] == 0
    assert body["counting_since"] is None  # the studio as a whole was never reset
    one = client.get("/api/stats/overview?slot_id=slot-002", headers=auth).get_json()
    assert one["counting_since"] == slots["slot-002"]["counting_since"]
    assert client.post("/api/stats/reset?slot_id=slot-404", headers=auth).status_code == 404
