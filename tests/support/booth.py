"""A DSLR Remote Pro stand-in: posts photos the way the real booth does."""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable
from typing import Any

import requests
from urllib3 import encode_multipart_formdata

from photochanger.media.spool import SPOOL_DIR
from tests.support.app import INGEST_PASSWORD

#: Text fields of a real captured request (reference/dslr-remote-pro.md).
BOOTH_FIELDS = {
    "time": "1758217512",
    "user_id": "Acer",
    "id": "CY04N068111304S2L_00000001.",
    "profile": "C:\\Users\\Acer\\Documents\\PhotoboothImages\\setup_Serg.xml",
    "status": "C:\\Users\\Acer\\Documents\\PhotoboothImages\\screenSerg\\preview.jpg",
    "name": "DESKTOP-K968T3F",
    "model": "Windows",
    "version": "3.30.2",
}


def post_photo(
    base_url: str,
    photo: bytes,
    slot_id: str = "slot-001",
    *,
    password: str | None = INGEST_PASSWORD,
    hash_value: str | None = "auto",
    field: str = "fileToUpload",
    filename: str = "IMG_0003.JPG",
    headers: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
    timeout: float = 90,
    path: str = "/ingest",
) -> requests.Response:
    data: dict[str, Any] = dict(BOOTH_FIELDS)
    if password is not None:
        data["password"] = password
    if hash_value == "auto":
        data["hash"] = hashlib.sha1(photo).hexdigest()
    elif hash_value is not None:
        data["hash"] = hash_value
    data.update(extra or {})
    files = {field: (filename, photo, "image/jpeg")}
    return requests.post(
        f"{base_url}{path}/{slot_id}", data=data, files=files, headers=headers or {}, timeout=timeout
    )


class HeldUpload:
    """A booth's request body that stops after ``hold_at`` bytes until ``ready()`` (or 20 s).

    It has a length, so requests sends a ``Content-Length`` as the booth does.
    With a ``rate`` (bytes per second) it is sent no faster, as over a studio's Wi-Fi.
    """

    def __init__(
        self, data: bytes, hold_at: int, ready: Callable[[], bool], rate: float | None = None
    ) -> None:
        self.data, self.hold_at, self.ready, self.rate = data, hold_at, ready, rate
        self.sent = 0
        self.ready_while_held: bool | None = None

    def __len__(self) -> int:
        return len(self.data)

    def read(self, size: int = -1) -> bytes:
        if self.sent == self.hold_at and self.ready_while_held is None:
            end = time.monotonic() + 20
            while not self.ready() and time.monotonic() < end:
                time.sleep(0.02)
            self.ready_while_held = self.ready()
        stop = self.hold_at if self.sent < self.hold_at else len(self.data)
        size = stop - self.sent if size is None or size < 0 else min(size, stop - self.sent)
        block = self.data[self.sent : self.sent + size]
        self.sent += len(block)
        if self.rate:
            time.sleep(len(block) / self.rate)
        return block


def booth_body(photo: bytes) -> tuple[bytes, str]:
    """The multipart body a booth sends for ``photo``, and its ``Content-Type``."""
    fields = {
        **BOOTH_FIELDS,
        "password": INGEST_PASSWORD,
        "fileToUpload": ("IMG_0001.JPG", photo, "image/jpeg"),
    }
    return encode_multipart_formdata(fields)


def bytes_arriving(media_root: str) -> int:
    """Bytes the server has written so far of uploads still arriving (their spools)."""
    folder = os.path.join(media_root, SPOOL_DIR)
    names = os.listdir(folder) if os.path.isdir(folder) else []
    return sum(os.path.getsize(os.path.join(folder, name)) for name in names)


def ingest_in_process(client: Any, photo: bytes, slot_id: str = "slot-001") -> Any:
    """The booth's post through Flask's test client; asserts a 200 and returns the response."""
    resp = client.post(
        f"/ingest/{slot_id}",
        data={"fileToUpload": (io.BytesIO(photo), "IMG_0003.JPG"), "password": INGEST_PASSWORD},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.get_json()
    return resp
