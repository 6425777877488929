"""``GET /api/slots/<id>/jobs``: a slot's journal, newest first, filterable and paged."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from photochanger.extensions import db
from photochanger.jobs.journal import CURSOR_PATTERN
from photochanger.models import MediaKind, MediaObject
from photochanger.runtime import services
from tests.support.images import jpeg_bytes
from tests.support.jobs import job_row

pytestmark = pytest.mark.db


def _seed(app: Flask, *jobs) -> None:
    with app.app_context():
        db.session.add_all(jobs)
        db.session.commit()


def test_a_failed_ingest_shows_with_its_reason_provider_and_attempts(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    _seed(
        app,
        job_row("slot-002", "done", minutes_ago=5, duration_ms=1200, input_size=123456, provider_attempts=1),
        job_row(
            "slot-002",
            "failed",
            minutes_ago=1,
            failure_reason="quota",
            provider_id="gemini",
            provider_attempts=3,
            duration_ms=4100,
        ),
        job_row("slot-003", "done"),  # another slot's
    )
    body = client.get("/api/slots/slot-002/jobs", headers=auth).get_json()
    assert [row["status"] for row in body["jobs"]] == ["failed", "done"]
    failed = body["jobs"][0]
    assert (failed["failure_reason"], failed["provider"], failed["attempts"]) == ("quota", "gemini", 3)
    assert failed["duration_ms"] == 4100 and failed["source"] == "ingest"
    assert body["jobs"][1]["input_size"] == 123456
    assert body["next_cursor"] is None


def test_the_status_filter_and_pages_walk_the_whole_history_once(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    same_moment = [job_row("slot-001", "done", started=start) for _ in range(3)]  # ties break by job id
    _seed(
        app,
        *same_moment,
        *(job_row("slot-001", "done", started=start + dt.timedelta(minutes=i)) for i in range(1, 5)),
        job_row("slot-001", "timeout", failure_reason="timeout"),
    )
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        body = client.get(
            f"/api/slots/slot-001/jobs?status=done&limit=3&cursor={cursor}", headers=auth
        ).get_json()
        seen += [row["job_id"] for row in body["jobs"]]
        assert {row["status"] for row in body["jobs"]} == {"done"}
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7
    timeouts = client.get("/api/slots/slot-001/jobs?status=timeout", headers=auth).get_json()["jobs"]
    assert [row["failure_reason"] for row in timeouts] == ["timeout"]


def test_links_to_the_live_result_and_the_kept_input(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    photo = jpeg_bytes()
    job = job_row(
        "slot-001",
        "done",
        result_path="results/slot-001/x/payload.jpg",
        result_expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    job_id = job.job_id
    _seed(app, job)
    with app.app_context():
        path = f"inputs/slot-001/{job_id}.jpg"
        services().store.write_atomic(path, photo)
        db.session.add(
            MediaObject(
                id="m" * 32,
                job_id=job_id,
                slot_id="slot-001",
                kind=MediaKind.INPUT,
                path=path,
                mime="image/jpeg",
            )
        )
        db.session.commit()
    row = client.get("/api/slots/slot-001/jobs", headers=auth).get_json()["jobs"][0]
    assert row["result_url"].endswith(f"/public/results/{job_id}")
    assert row["input_url"] == f"/api/slots/slot-001/jobs/{job_id}/input"
    got = client.get(row["input_url"], headers=auth)
    assert got.status_code == 200 and got.data == photo and got.mimetype == "image/jpeg"
    assert client.get(row["input_url"]).status_code == 401  # admins only


def test_bad_filters_are_400_and_unknown_slots_404(client: FlaskClient, auth: dict[str, str]) -> None:
    for query, field in (
        ("status=lost", "status"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("cursor=zz", "cursor"),
        ("cursor=2026-12-04T11:54:51Z~" + "a" * 32, "cursor"),
    ):
        resp = client.get(f"/api/slots/slot-001/jobs?{query}", headers=auth)
        assert resp.status_code == 400 and resp.get_json()["field"] == field
    assert client.get("/api/slots/slot-099/jobs", headers=auth).status_code == 404
    missing = client.get("/api/slots/slot-001/jobs/" + "a" * 32 + "/input", headers=auth)
    assert missing.status_code == 404 and "удалено" in missing.get_json()["message"]


def test_every_cursor_of_the_published_shape_is_accepted(client: FlaskClient, auth: dict[str, str]) -> None:
    """The contract's pattern is the server's: a client that keeps to it never gets a 400."""
    from tests.contracts.contract import spec

    params = spec()["paths"]["/api/slots/{slot_id}/jobs"]["get"]["parameters"]
    (pattern,) = [p["schema"]["pattern"] for p in params if p["name"] == "cursor"]
    assert pattern == CURSOR_PATTERN.pattern
    for cursor in ("", "0~0", "9" * 16 + "~" + "f" * 32, "0000000000000001~abc"):
        assert re.fullmatch(pattern, cursor)
        resp = client.get(f"/api/slots/slot-001/jobs?cursor={cursor}", headers=auth)
        assert resp.status_code == 200, resp.get_json()
