"""ZIP batches in process: checked whole, queued per photo, progress, results ZIP with manifest."""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest
from sqlalchemy import func, select

from photochanger.extensions import db
from photochanger.models import ApiBatch, ApiTask, MediaObject
from tests.support.api_tasks import run_queue_once
from tests.support.images import jpeg_bytes
from tests.support.zips import bad_zips, make_zip, photos

pytestmark = pytest.mark.db

MAX_FILES, MAX_MB = 6, 2


@pytest.fixture
def limits(app):
    app.config.update(BATCH_MAX_FILES=MAX_FILES, BATCH_MAX_UNPACKED_MB=MAX_MB)


def _post(client, key, data: bytes, slot_id="slot-001"):
    form = {"slot_id": slot_id, "archive": (io.BytesIO(data), "photos.zip")}
    return client.post("/api/v1/batches", data=form, headers=key, content_type="multipart/form-data")


def test_a_batch_queues_each_photo_and_a_broken_one_fails_alone(app, client, key, limits):
    truncated = jpeg_bytes(80, 60)[:200]  # a JPEG by its first bytes, broken inside
    archive = make_zip(
        [*photos(3), ("folder/", b""), ("__MACOSX/._IMG_0000.jpg", b"\x00\x05"), ("broken.jpg", truncated)]
    )
    resp = _post(client, key, archive)
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert body["total"] == 4 and resp.headers["Location"] == body["status_url"]
    progress = client.get(f"/api/v1/batches/{body['batch_id']}", headers=key).get_json()
    assert progress["counts"] == {"queued": 3, "running": 0, "done": 0, "failed": 1}
    assert not progress["finished"]
    assert progress["files"][3]["name"] == "broken.jpg"
    assert progress["files"][3]["failure_reason"] == "unsupported_media_type"

    run_queue_once(app)
    progress = client.get(f"/api/v1/batches/{body['batch_id']}", headers=key).get_json()
    assert progress["finished"] and progress["counts"]["done"] == 3

    resp = client.get(body["results_url"].replace("http://localhost", ""), headers=key)
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert int(resp.headers["Content-Length"]) == len(resp.data)
    with zipfile.ZipFile(io.BytesIO(resp.data)) as results:
        manifest = json.loads(results.read("manifest.json"))["files"]
        assert [m["name"] for m in manifest] == ["IMG_0000.jpg", "IMG_0001.jpg", "IMG_0002.jpg", "broken.jpg"]
        assert [m["status"] for m in manifest] == ["done", "done", "done", "failed"]
        assert manifest[0]["file"] == "results/001_IMG_0000.jpg"
        for entry in manifest[:3]:
            assert results.read(entry["file"])[:3] == b"\xff\xd8\xff"
            assert entry["result_url"].endswith(entry["result_url"].rsplit("/", 1)[-1])
        assert manifest[3]["file"] is None and manifest[3]["failure_reason"] == "unsupported_media_type"
        assert len(results.namelist()) == 4


@pytest.mark.parametrize("bad", bad_zips(MAX_FILES, MAX_MB), ids=lambda b: b.label)
def test_bad_archives_are_refused_whole_with_nothing_stored(app, client, key, limits, bad):
    resp = _post(client, key, bad.data)
    assert resp.status_code == bad.status, resp.get_json()
    body = resp.get_json()
    assert body["failure_reason"] == bad.reason
    assert any("а" <= ch <= "я" for ch in body["message"].lower())
    with app.app_context():
        for model in (ApiBatch, ApiTask, MediaObject):
            assert db.session.execute(select(func.count()).select_from(model)).scalar() == 0
    assert not os.path.exists(os.path.join(app.config["MEDIA_ROOT"], "api"))


def test_a_batch_without_an_archive_is_400_and_other_keys_batches_are_404(client, auth, key):
    resp = client.post(
        "/api/v1/batches", data={"slot_id": "slot-001"}, headers=key, content_type="multipart/form-data"
    )
    assert resp.status_code == 400 and resp.get_json()["field"] == "photos"
    batch_id = _post(client, key, make_zip(photos(1))).get_json()["batch_id"]
    other = client.post("/api/keys", json={"name": "Другой"}, headers=auth).get_json()
    for path in (f"/api/v1/batches/{batch_id}", f"/api/v1/batches/{batch_id}/results.zip"):
        resp = client.get(path, headers={"X-API-Key": other["api_key"]})
        assert resp.status_code == 404 and resp.get_json()["failure_reason"] == "not_found"


def test_admins_list_batches_with_progress_and_download_them(app, client, auth, key):
    batch_id = _post(client, key, make_zip(photos(2))).get_json()["batch_id"]
    run_queue_once(app)
    listed = client.get("/api/batches", headers=auth).get_json()["batches"]
    assert [(b["batch_id"], b["key_name"], b["counts"]["done"], b["finished"]) for b in listed] == [
        (batch_id, "Партнёр", 2, True)
    ]
    resp = client.get(listed[0]["results_url"], headers=auth)
    assert resp.status_code == 200
    with zipfile.ZipFile(io.BytesIO(resp.data)) as results:
        assert sorted(results.namelist()) == [
            "manifest.json",
            "results/001_IMG_0000.jpg",
            "results/002_IMG_0001.jpg",
        ]
    assert client.get("/api/batches").status_code == 401
