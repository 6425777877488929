"""A DSLR Remote Pro stand-in: posts photos the way the real booth does."""

from __future__ import annotations

import hashlib
from typing import Any

import requests

from tests.conftest import INGEST_PASSWORD

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
