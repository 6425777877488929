"""A booth photo goes in, a processed JPEG comes out (in-process client)."""

import hashlib

import pytest

from tests.conftest import INGEST_PASSWORD
from tests.support.images import jpeg_bytes, open_image

pytestmark = pytest.mark.db


def test_ingest_returns_processed_jpeg_with_headers(client):
    photo = jpeg_bytes()
    resp = client.post(
        "/ingest/slot-001",
        data={
            "fileToUpload": (__import__("io").BytesIO(photo), "IMG_0003.JPG"),
            "password": INGEST_PASSWORD,
            "hash": hashlib.sha1(photo).hexdigest(),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.mimetype == "image/jpeg"
    assert resp.headers["Cache-Control"] == "no-store"
    assert int(resp.headers["Content-Length"]) == len(resp.data)
    assert resp.data != photo
    assert open_image(resp.data).size == (640, 480)
    job_id = resp.headers["X-Job-Id"]
    assert resp.headers["X-Result-Url"].endswith(f"/public/results/{job_id}")
