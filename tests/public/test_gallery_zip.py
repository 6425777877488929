"""«Скачать все»: a slot's live results as one streamed ZIP, for guests and admins."""

from __future__ import annotations

import datetime as dt
import io
import os
import zipfile

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from photochanger.extensions import db
from photochanger.models import Slot
from tests.support.jobs import stored_result

pytestmark = pytest.mark.db


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(p) for p in fh.read().split()]


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        line = next(line for line in fh if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def _token(app: Flask, slot_id: str) -> str:
    with app.app_context():
        return db.session.get(Slot, slot_id).gallery_token


def test_guests_download_every_live_result_of_the_slot(app: Flask, client: FlaskClient) -> None:
    kept = [stored_result(app, "slot-001", bytes([n]) * 1000, minutes_ago=10 - n) for n in range(3)]
    stored_result(app, "slot-001", b"x", source="ui_test")  # an admin's test run
    expired = stored_result(app, "slot-001", b"y")
    stored_result(app, "slot-002", b"z")  # another slot
    with app.app_context():
        from photochanger.models import JobHistory

        db.session.get(JobHistory, expired).result_expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(
            seconds=1
        )
        db.session.commit()

    resp = client.get(f"/public/slots/slot-001/photos.zip?token={_token(app, 'slot-001')}")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert int(resp.headers["Content-Length"]) == len(resp.data)
    assert 'filename="slot-001.zip"' in resp.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(resp.data))
    names = archive.namelist()
    assert len(names) == 3 and all(n.startswith("slot-001_") and n.endswith(".jpg") for n in names)
    assert [archive.read(n) for n in names] == [bytes([n]) * 1000 for n in range(3)]  # oldest first
    assert [n.rsplit("_", 1)[1][:8] for n in names] == [job_id[:8] for job_id in kept]
    again = client.get(f"/public/slots/slot-001/photos.zip?token={_token(app, 'slot-001')}")
    assert zipfile.ZipFile(io.BytesIO(again.data)).namelist() == names  # stable names


def test_without_the_token_there_is_no_archive(app: Flask, client: FlaskClient) -> None:
    stored_result(app, "slot-001", b"a")
    assert client.get("/public/slots/slot-001/photos.zip").status_code == 404
    assert client.get("/public/slots/slot-001/photos.zip?token=wrong").status_code == 404


@pytest.mark.slow
def test_a_sixty_result_archive_streams_with_flat_memory(app: Flask, live_server) -> None:
    photo = os.urandom(1024 * 1024)  # 1 MB that does not compress, like a JPEG
    for n in range(60):
        stored_result(app, "slot-005", photo, minutes_ago=100 - n)
    server = live_server(workers=1)
    url = f"{server.url}/public/slots/slot-005/photos.zip?token={_token(app, 'slot-005')}"
    requests.get(url, timeout=30).raise_for_status()  # warm the worker up
    worker = _children(server.proc.pid)[0]
    before = _rss(worker)
    peak = before
    received = 0
    with requests.get(url, stream=True, timeout=60) as resp:
        resp.raise_for_status()
        for chunk in resp.iter_content(256 * 1024):
            received += len(chunk)
            peak = max(peak, _rss(worker))
    assert received == int(resp.headers["Content-Length"]) > 60 * 1024 * 1024
    assert peak - before < 20 * 1024 * 1024, f"worker grew by {(peak - before) / 2**20:.1f} MB"
