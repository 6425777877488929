"""Benchmark photos and pre-encoded multipart bodies (built once, before timing)."""

from __future__ import annotations

import hashlib
import io
import os
import random
import uuid
from dataclasses import dataclass

from PIL import Image

BOOTH_FIELDS = {
    "time": "1758217512",
    "user_id": "bench",
    "id": "BENCH_00000001.",
    "name": "BENCH-BOOTH",
    "model": "Windows",
    "version": "3.30.2",
}


def jpeg_of_size(target: int, seed: int = 1) -> bytes:
    """A real JPEG of about ``target`` bytes with a DSLR-like pixel count.

    Noise makes the encoder work like on a real photo; the resolution grows
    with the size (16 MP for 20 MB), so server-side decoding costs what
    it would on a booth photo. The rest up to the exact size is metadata (see
    :func:`_with_metadata`), and the file ends with EOI as a camera's does.
    """
    # Empirically ~1.2 bytes/pixel at quality 85 for half-noise images.
    pixels = max(64 * 48, int(target / 1.3))
    width = max(64, int((pixels * 3 / 2) ** 0.5))
    height = max(48, width * 2 // 3)
    rnd = os.urandom(width * height // 4)
    noise = Image.frombytes("L", (width // 2, height // 2), rnd).resize((width, height))
    base = Image.linear_gradient("L").resize((width, height))
    im = Image.merge("RGB", (noise, base, Image.blend(noise, base, 0.5)))
    out = io.BytesIO()
    quality = 85
    im.save(out, "JPEG", quality=quality)
    data = out.getvalue()
    while len(data) > target and quality > 30:
        quality -= 10
        out = io.BytesIO()
        im.save(out, "JPEG", quality=quality)
        data = out.getvalue()
    return _with_metadata(data, target - len(data), seed)


#: Bytes an application segment carries at most (its 16-bit length counts itself).
_SEGMENT_PAYLOAD = 65533


def _with_metadata(jpeg: bytes, extra: int, seed: int) -> bytes:
    """``jpeg`` grown by ``extra`` bytes of APP15 segments after its JFIF header.

    Cameras carry maker notes and embedded previews in application segments
    before the image data; random bytes stand in for them (they are compressed
    data in a real file). Padding *after* EOI, as this once did, is what no
    camera writes, and made a search for the end marker scan a megabyte of
    padding that a real photo does not have.
    """
    if extra <= 0:
        return jpeg
    rnd = random.Random(seed)
    segments = []
    while extra >= 4:
        size = min(extra, 4 + _SEGMENT_PAYLOAD)
        if 0 < extra - size < 4:
            size -= 4  # leave room for one more whole segment
        segments.append(b"\xff\xef" + (size - 2).to_bytes(2, "big") + rnd.randbytes(size - 4))
        extra -= size
    head = 2 + 2 + int.from_bytes(jpeg[4:6], "big") if jpeg[2:4] == b"\xff\xe0" else 2
    # Only an ``extra`` under one segment header (1-3 bytes) is left: it goes
    # after EOI, where decoders ignore it.
    return jpeg[:head] + b"".join(segments) + jpeg[head:] + b"\0" * extra


@dataclass(frozen=True)
class Body:
    """A multipart body exactly as a booth would send it."""

    data: bytes
    content_type: str
    photo_size: int


def multipart(photo: bytes, password: str, field: str = "fileToUpload") -> Body:
    boundary = "----bench" + uuid.uuid4().hex
    fields = {**BOOTH_FIELDS, "password": password, "hash": hashlib.sha1(photo).hexdigest()}
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="IMG_0001.JPG"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    data = b"".join([*parts, head, photo, f"\r\n--{boundary}--\r\n".encode()])
    return Body(data, f"multipart/form-data; boundary={boundary}", len(photo))
