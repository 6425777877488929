"""Benchmark photos and pre-encoded multipart bodies (built once, before timing)."""

from __future__ import annotations

import functools
import hashlib
import io
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


@functools.lru_cache(maxsize=8)
def jpeg_of_size(target: int, seed: int = 1) -> bytes:
    """A real JPEG of about ``target`` bytes, nearly all of it image data.

    The pixel count grows with the size (1.3 bytes per pixel, 16 MP for
    20 MB; a camera's fine JPEG has 0.3-0.8, so more pixels per byte), and
    full-resolution noise fills the file with entropy-coded data, which is
    what bounds a JPEG decode even at reduced scale: the decoder, the encoder
    and every byte-level scan work as on a real photo of that size. The
    highest quality that fits is used; the few per cent left up to the exact
    size are metadata (:func:`_with_metadata`), and the file ends with EOI as
    a camera's does.
    """
    pixels = max(64 * 48, int(target / 1.3))
    width = max(64, int((pixels * 3 / 2) ** 0.5))
    height = max(48, width * 2 // 3)
    rnd = random.Random(seed)
    noise = Image.frombytes("L", (width, height), rnd.randbytes(width * height))
    base = Image.linear_gradient("L").resize((width, height))
    im = Image.merge("RGB", (noise, base, Image.blend(noise, base, 0.5)))
    data = b""
    for quality in range(95, 20, -3):
        out = io.BytesIO()
        im.save(out, "JPEG", quality=quality)
        data = out.getvalue()
        if len(data) <= target:
            break
    return _with_metadata(data, target - len(data), seed)


#: Bytes an application segment carries at most (its 16-bit length counts itself).
_SEGMENT_PAYLOAD = 65533


def _with_metadata(jpeg: bytes, extra: int, seed: int) -> bytes:
    """``jpeg`` grown by ``extra`` bytes of APP15 segments after its JFIF header.

    Cameras carry EXIF and maker notes in application segments before the
    image data; random bytes stand in for them. Padding *after* EOI, as this
    once did with up to 70 % of the file, is what no camera writes, and made a
    search for the end marker scan megabytes that a real photo does not have.
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
