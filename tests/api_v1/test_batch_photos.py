"""Batches of separate photo parts (``photos``), alone or after a ZIP: same limits, same all-or-nothing."""

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
from tests.support.images import jpeg_bytes, noisy_jpeg, png_bytes, webp_bytes
from tests.support.zips import make_zip, photos

pytestmark = pytest.mark.db

MAX_FILES, MAX_MB = 6, 2


@pytest.fixture
def limits(app):
    app.config.update(BATCH_MAX_FILES=MAX_FILES, BATCH_MAX_UNPACKED_MB=MAX_MB)


def _parts(items: list[tuple[str, bytes]]) -> list[tuple[io.BytesIO, str]]:
    return [(io.BytesIO(data), name) for name, data in items]


def _post(client, key, *, archive: bytes | None = None, parts=(), slot_id="slot-001"):
    form: dict = {"slot_id": slot_id}
    if archive is not None:
        form["archive"] = (io.BytesIO(archive), "photos.zip")
    if parts:
        form["photos"] = _parts(list(parts))
    return client.post("/api/v1/batches", data=form, headers=key, content_type="multipart/form-data")


def _names(client, key, batch_id: str) -> list[str]:
    files = client.get(f"/api/v1/batches/{batch_id}", headers=key).get_json()["files"]
    return [f["name"] for f in files]


def _nothing_stored(app) -> None:
    with app.app_context():
        for model in (ApiBatch, ApiTask, MediaObject):
            assert db.session.execute(select(func.count()).select_from(model)).scalar() == 0
    assert not os.path.exists(os.path.join(app.config["MEDIA_ROOT"], "api"))


def test_one_photo_part_is_a_batch_of_one(app, client, key, limits):
    resp = _post(client, key, parts=[("portrait.png", png_bytes())])
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert body["total"] == 1
    assert _names(client, key, body["batch_id"]) == ["portrait.png"]


def test_several_parts_keep_their_order_names_and_duplicates_and_run(app, client, key, limits):
    parts = [("b.jpg", jpeg_bytes(80, 60)), ("a.webp", webp_bytes()), ("b.jpg", jpeg_bytes(90, 60))]
    body = _post(client, key, parts=parts).get_json()
    assert body["total"] == 3
    assert _names(client, key, body["batch_id"]) == ["b.jpg", "a.webp", "b.jpg"]
    run_queue_once(app)
    resp = client.get(f"/api/v1/batches/{body['batch_id']}/results.zip", headers=key)
    with zipfile.ZipFile(io.BytesIO(resp.data)) as results:
        manifest = json.loads(results.read("manifest.json"))["files"]
    assert [(m["name"], m["status"], m["file"]) for m in manifest] == [
        ("b.jpg", "done", "results/001_b.jpg"),
        ("a.webp", "done", "results/002_a.jpg"),
        ("b.jpg", "done", "results/003_b.jpg"),
    ]


def test_a_zip_and_parts_make_one_batch_zip_photos_first(client, key, limits):
    body = _post(
        client, key, archive=make_zip(photos(2)), parts=[("extra.jpg", jpeg_bytes(70, 50))]
    ).get_json()
    assert body["total"] == 3
    assert _names(client, key, body["batch_id"]) == ["IMG_0000.jpg", "IMG_0001.jpg", "extra.jpg"]


def test_part_names_lose_their_folders_and_control_characters(client, key, limits):
    body = _post(client, key, parts=[("Фото/2026/свадьба\x07.jpg", jpeg_bytes(64, 48))]).get_json()
    assert _names(client, key, body["batch_id"]) == ["свадьба.jpg"]


def test_a_part_broken_inside_fails_alone(app, client, key, limits):
    truncated = jpeg_bytes(80, 60)[:200]
    body = _post(client, key, parts=[("ok.jpg", jpeg_bytes(64, 48)), ("broken.jpg", truncated)]).get_json()
    files = client.get(f"/api/v1/batches/{body['batch_id']}", headers=key).get_json()["files"]
    assert [(f["status"], f["failure_reason"]) for f in files] == [
        ("queued", None),
        ("failed", "unsupported_media_type"),
    ]


def test_no_archive_and_no_photos_is_400_naming_photos(app, client, key, limits):
    empty_input = {"slot_id": "slot-001", "photos": (io.BytesIO(b""), "")}  # a browser's empty file input
    for form in ({"slot_id": "slot-001"}, empty_input):
        resp = client.post("/api/v1/batches", data=form, headers=key, content_type="multipart/form-data")
        body = resp.get_json()
        assert resp.status_code == 400 and body["failure_reason"] == "bad_request", body
        assert body["field"] == "photos" and "фото" in body["message"]
    _nothing_stored(app)


BIG = noisy_jpeg(1400, 1000)


@pytest.mark.parametrize(
    ("label", "archive", "parts", "status", "reason"),
    [
        ("pdf part", None, [("a.jpg", jpeg_bytes(64, 48)), ("b.pdf", b"%PDF-1.4 x")], 415, "zip_not_image"),
        (
            "zip as a part",
            None,
            [("a.jpg", jpeg_bytes(64, 48)), ("c.jpg", make_zip(photos(1)))],
            415,
            "zip_not_image",
        ),
        ("parts over the count", None, photos(MAX_FILES + 1), 413, "zip_too_large"),
        ("zip and parts over the count", make_zip(photos(4)), photos(3, start=4), 413, "zip_too_large"),
        (
            "parts over the bytes",
            None,
            [(f"big_{n}.jpg", BIG) for n in range(MAX_MB * 1024 * 1024 // len(BIG) + 1)],
            413,
            "zip_too_large",
        ),
        ("bad zip with good parts", b"not a zip", photos(1), 400, "bad_zip"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_refused_requests_store_nothing(app, client, key, limits, label, archive, parts, status, reason):
    resp = _post(client, key, archive=archive, parts=parts)
    body = resp.get_json()
    assert (resp.status_code, body["failure_reason"]) == (status, reason), body
    assert any("а" <= ch <= "я" for ch in body["message"].lower())
    _nothing_stored(app)
