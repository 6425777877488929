"""The request class: how a multipart body is read from the WSGI server."""

from __future__ import annotations

import hashlib
import io
import time

import pytest
import requests
from werkzeug.test import EnvironBuilder

from photochanger.errors import ApiError
from photochanger.infra.request import MIN_PARSE_READ, PARSE_BUFFER, HashingUpload, StrictRequest, _RawReads
from tests.support.booth import HeldUpload, booth_body, bytes_arriving
from tests.support.images import noisy_jpeg


class _RecordingInput:
    """A server's ``wsgi.input`` that notes every read size asked of it.

    With a ``rate`` it behaves like gunicorn over a slow link: a read returns
    once all the bytes asked for have arrived at that many bytes per second.
    """

    def __init__(self, data: bytes, rate: float | None = None) -> None:
        self._data = io.BytesIO(data)
        self.rate = rate
        self.asked: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.asked.append(size)
        data = self._data.read(size)
        if self.rate:
            time.sleep(len(data) / self.rate)
        return data


def _request(photo: bytes, rate: float | None = None) -> tuple[StrictRequest, _RecordingInput]:
    builder = EnvironBuilder(
        method="POST",
        path="/ingest/slot-001",
        data={"fileToUpload": (io.BytesIO(photo), "IMG_0001.JPG"), "password": "secret"},
    )
    environ = builder.get_environ()
    body = environ["wsgi.input"].read()
    stream = _RecordingInput(body, rate)
    # As gunicorn does: the server bounds the body, so Werkzeug reads its stream directly.
    environ.update({"wsgi.input": stream, "wsgi.input_terminated": True})
    return StrictRequest(environ), stream


def test_a_large_upload_is_read_from_the_server_in_whole_buffers():
    photo = noisy_jpeg()  # ≈ 2 MB
    request, stream = _request(photo)

    upload = request.files["fileToUpload"].stream

    assert isinstance(upload, HashingUpload)
    assert upload.getvalue() == photo
    assert upload.sha1.hexdigest() == hashlib.sha1(photo).hexdigest()
    assert request.form["password"] == "secret"
    # Werkzeug's own 64 KiB reads would each make gunicorn copy its buffer again.
    assert max(stream.asked) == PARSE_BUFFER
    assert len(stream.asked) <= len(photo) // PARSE_BUFFER + 3


def test_a_body_arriving_over_a_slow_link_is_read_in_steps_that_keep_up_with_it():
    photo = noisy_jpeg(1200, 800)  # ≈ 0.5 MB
    request, stream = _request(photo, rate=2 * PARSE_BUFFER)  # 16 Mbit/s: a studio's Wi-Fi

    upload = request.files["fileToUpload"].stream

    assert upload.getvalue() == photo
    assert stream.asked[0] == PARSE_BUFFER  # the first read cannot know the rate yet
    # Then ~40 KB arrive per 20 ms: the floor of 64 KiB, so the part is written,
    # hashed and decoded up to its last 64 KiB before its last byte arrives.
    assert stream.asked[1:] and max(stream.asked[1:]) == MIN_PARSE_READ


def test_a_read_that_found_its_bytes_waiting_grows_the_next_one_at_most_twofold():
    stream = _RecordingInput(b"x" * (4 * PARSE_BUFFER), rate=2 * PARSE_BUFFER)
    raw = _RawReads(stream)
    buffer = bytearray(PARSE_BUFFER)
    raw.readinto(buffer)
    stream.rate = None  # now everything is there at once
    raw.readinto(buffer)
    raw.readinto(buffer)
    assert stream.asked == [PARSE_BUFFER, MIN_PARSE_READ, 2 * MIN_PARSE_READ]


def test_a_body_cut_short_by_the_client_still_fails_the_parse():
    photo = noisy_jpeg()
    request, stream = _request(photo)
    stream._data = io.BytesIO(stream._data.getvalue()[: len(photo) // 2])

    with pytest.raises(ApiError) as raised:  # answered by the JSON handlers, never a 500
        request.files  # noqa: B018  # the parse is what is tested
    assert raised.value.status == 400


def test_through_gunicorn_a_slow_upload_is_on_disk_up_to_its_last_steps_before_its_last_byte(
    app, app_env, live_server
):
    server = live_server()
    photo = noisy_jpeg(3000, 2000, quality=95)  # ≈ 3.6 MB
    body, content_type = booth_body(photo)
    # Held 900 KB into the third MiB: reads of a whole buffer would have handed
    # over only the first two MiB by then.
    hold_at = 2 * PARSE_BUFFER + 900 * 1024
    photo_at = body.index(photo[:64])
    assert photo_at < 4096 and hold_at < photo_at + len(photo) - 64 * 1024

    def on_disk() -> int:
        return bytes_arriving(app_env["MEDIA_ROOT"])

    held = HeldUpload(
        body, hold_at, lambda: on_disk() >= hold_at - photo_at - 256 * 1024, rate=4 * 1024 * 1024
    )
    resp = requests.post(
        f"{server.url}/ingest/slot-001", data=held, headers={"Content-Type": content_type}, timeout=60
    )
    assert resp.status_code == 200, resp.text
    assert held.ready_while_held, f"{on_disk()} bytes were on disk 900 KB into the third MiB"
