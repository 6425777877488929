"""The request class: how a multipart body is read from the WSGI server."""

from __future__ import annotations

import hashlib
import io

import pytest
from werkzeug.test import EnvironBuilder

from photochanger.request import PARSE_BUFFER, HashingUpload, StrictRequest
from tests.support.images import noisy_jpeg


class _RecordingInput:
    """A server's ``wsgi.input`` that notes every read size asked of it."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.asked: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.asked.append(size)
        return self._data.read(size)


def _request(photo: bytes) -> tuple[StrictRequest, _RecordingInput]:
    builder = EnvironBuilder(
        method="POST",
        path="/ingest/slot-001",
        data={"fileToUpload": (io.BytesIO(photo), "IMG_0001.JPG"), "password": "secret"},
    )
    environ = builder.get_environ()
    body = environ["wsgi.input"].read()
    stream = _RecordingInput(body)
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


def test_a_body_cut_short_by_the_client_still_fails_the_parse():
    photo = noisy_jpeg()
    request, stream = _request(photo)
    stream._data = io.BytesIO(stream._data.getvalue()[: len(photo) // 2])

    with pytest.raises(ValueError):  # the ingest answers it 400 «Некорректное тело multipart/form-data»
        request.files  # noqa: B018  # the parse is what is tested
