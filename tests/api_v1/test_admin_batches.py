"""Batches an admin sends (no key): bearer or cookie with CSRF, listed as the admin's, hidden from keys."""

from __future__ import annotations

import io
import os
import zipfile

import pytest
from sqlalchemy import func, inspect, select

from photochanger.extensions import db
from photochanger.models import ApiBatch, ApiTask
from tests.support.api_tasks import run_queue_once
from tests.support.app import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.support.images import jpeg_bytes
from tests.support.zips import make_zip, photos

pytestmark = pytest.mark.db


def _form(**extra) -> dict:
    return {"slot_id": "slot-001", "photos": [(io.BytesIO(jpeg_bytes(64, 48)), "a.jpg")], **extra}


def _send(client, headers=None, **extra):
    return client.post(
        "/api/batches", data=_form(**extra), headers=headers or {}, content_type="multipart/form-data"
    )


def test_an_admin_sends_a_batch_and_follows_it_like_a_key(app, client, auth):
    archive = (io.BytesIO(make_zip(photos(1))), "more.zip")
    resp = _send(client, auth, archive=archive)
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert body["total"] == 2
    assert body["status_url"].endswith(f"/api/batches/{body['batch_id']}")
    assert body["results_url"].endswith(f"/api/batches/{body['batch_id']}/results.zip")
    run_queue_once(app)
    status = client.get(f"/api/batches/{body['batch_id']}", headers=auth).get_json()
    assert status["finished"] and status["counts"]["done"] == 2
    assert [f["name"] for f in status["files"]] == ["IMG_0000.jpg", "a.jpg"]
    results = client.get(f"/api/batches/{body['batch_id']}/results.zip", headers=auth)
    with zipfile.ZipFile(io.BytesIO(results.data)) as done:
        assert sorted(done.namelist()) == ["manifest.json", "results/001_IMG_0000.jpg", "results/002_a.jpg"]
    listed = client.get("/api/batches", headers=auth).get_json()["batches"]
    assert [(b["batch_id"], b["key_name"], b["created_by"]) for b in listed] == [
        (body["batch_id"], "Администратор", ADMIN_USERNAME)
    ]
    assert client.get("/api/batches/" + "f" * 32, headers=auth).status_code == 404


def test_an_admin_batch_checks_the_slot_and_the_form(client, auth):
    missing = _send(client, auth, slot_id="slot-099")
    assert missing.status_code == 404 and missing.get_json()["failure_reason"] == "slot_not_found"
    none = client.post(
        "/api/batches", data={"slot_id": "slot-001"}, headers=auth, content_type="multipart/form-data"
    )
    assert none.status_code == 400 and none.get_json()["field"] == "photos"
    assert _send(client).status_code == 401


def test_a_cookie_session_needs_the_csrf_header_to_send_a_batch(app, client):
    client.post("/api/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "cookie": True})
    refused = _send(client)
    assert refused.status_code == 403 and refused.get_json()["failure_reason"] == "csrf_failed"
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(ApiBatch)).scalar() == 0
    assert not os.path.exists(os.path.join(app.config["MEDIA_ROOT"], "api"))
    csrf = client.get_cookie("csrf_access_token").value
    assert _send(client, {"X-CSRF-TOKEN": csrf}).status_code == 202


def test_keys_never_see_an_admin_batch_nor_count_its_tasks(app, client, auth):
    batch_id = _send(client, auth).get_json()["batch_id"]
    key = {"X-API-Key": client.post("/api/keys", json={"name": "Студия"}, headers=auth).get_json()["api_key"]}
    with app.app_context():
        task_id = db.session.execute(select(ApiTask.id)).scalar_one()
    for path in (
        f"/api/v1/batches/{batch_id}",
        f"/api/v1/batches/{batch_id}/results.zip",
        f"/api/v1/jobs/{task_id}",
    ):
        resp = client.get(path, headers=key)
        assert resp.status_code == 404, path
    usage = client.get("/api/stats/api-keys", headers=auth).get_json()["keys"]
    assert [k["tasks"] for k in usage] == [{"open": 0, "done": 0, "failed": 0}]


def test_migration_0010_downgrade_drops_admin_batches_and_upgrade_restores_the_columns(app, client, auth):
    from flask_migrate import downgrade, upgrade

    key = {"X-API-Key": client.post("/api/keys", json={"name": "Студия"}, headers=auth).get_json()["api_key"]}
    kept = client.post(
        "/api/v1/batches", data=_form(), headers=key, content_type="multipart/form-data"
    ).get_json()["batch_id"]
    _send(client, auth)
    with app.app_context():
        db.session.remove()
        downgrade(revision="0009")
        columns = {c["name"]: c for c in inspect(db.engine).get_columns("api_batch")}
        assert "created_by" not in columns and not columns["key_id"]["nullable"]
        assert not {c["name"]: c for c in inspect(db.engine).get_columns("api_task")}["key_id"]["nullable"]
        assert db.session.execute(select(ApiBatch.__table__.c.id)).scalars().all() == [kept]
        assert db.session.execute(select(func.count()).select_from(ApiTask.__table__)).scalar() == 1
        db.session.remove()
        upgrade()
        columns = {c["name"]: c for c in inspect(db.engine).get_columns("api_batch")}
        assert "created_by" in columns and columns["key_id"]["nullable"]
        db.session.remove()
    assert _send(client, auth).status_code == 202
