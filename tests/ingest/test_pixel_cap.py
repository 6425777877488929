"""A picture whose header declares too many pixels is refused before anything decodes it.

Issue 20, row 3: a 335-byte JPEG claiming 13000×13000 took 15–17 s and grew a
worker to 2.35 GB. The cap (``max_photo_megapixels``, 64 MP by default) is read
from the header, so the answer is an immediate 413 ``image_too_large``.
"""

from __future__ import annotations

import io
import os
import struct
import time
import zlib

import pytest
from PIL import Image

from tests.support.app import INGEST_PASSWORD
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.setup import gemini_slot, set_settings


def _jpeg_claiming(width: int, height: int, padding: int = 0) -> bytes:
    """A tiny real JPEG whose SOF0 header declares ``width``×``height``, plus ``padding`` bytes of scan."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 80, 40)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    eoi = len(data) - 2
    return bytes(data[:eoi]) + os.urandom(padding).replace(b"\xff", b"\x00") + b"\xff\xd9"


def _png_claiming(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    return bytes(data)


def _refused(resp) -> None:
    assert resp.status_code == 413, resp.text
    body = resp.json()
    assert body["failure_reason"] == "image_too_large"
    assert "Мп" in body["message"] and "13000×13000" in body["message"]


@pytest.mark.parametrize(
    "photo",
    [
        _jpeg_claiming(13000, 13000),
        _png_claiming(13000, 13000),
        _jpeg_claiming(13000, 13000, 2 * 1024 * 1024),
    ],
    ids=["335-byte jpeg", "png", "2 MB jpeg (early shrink follows it)"],
)
def test_a_pixel_bomb_is_413_at_once_on_every_worker(app, live_server, photo) -> None:
    gemini_slot(app)  # a provider whose early shrink would decode the photo while it arrives
    server = live_server(workers=2)
    for _ in range(4):  # both workers
        started = time.monotonic()
        _refused(post_photo(server.url, photo))
        assert time.monotonic() - started < 2
    ok = post_photo(server.url, jpeg_bytes(), slot_id="slot-002")
    assert ok.status_code == 200, ok.text


def test_the_cap_is_an_admin_setting(app, client) -> None:
    set_settings(app, max_photo_megapixels=1)
    resp = client.post(
        "/ingest/slot-001",
        data={"fileToUpload": (io.BytesIO(jpeg_bytes(1400, 1000)), "IMG.JPG"), "password": INGEST_PASSWORD},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 413 and resp.get_json()["failure_reason"] == "image_too_large"
    assert "предел 1 Мп" in resp.get_json()["message"]
