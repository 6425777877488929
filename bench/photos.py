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

    Full-resolution noise over a gradient fills the file with entropy-coded
    data, which is what bounds a JPEG decode even at reduced scale: the
    decoder, the encoder and every byte-level scan work as on a real photo of
    that size. The highest quality that fits is used, then the 3:2 photo grows
    until less than one metadata segment (64 KB, the size of a camera's EXIF)
    is left up to the exact size; that rest is metadata before the image data
    (:func:`_with_metadata`), and the file ends with EOI as a camera's does.
    """
    pixels = max(64 * 48, int(target / 1.3))
    width = max(64, int((pixels * 3 / 2) ** 0.5))
    height = max(48, width * 2 // 3)
    data, quality = b"", 95
    for quality in range(95, 20, -3):
        data = _noise_jpeg(width, height, quality, seed)
        if len(data) <= target:
            break
    for _ in range(8):
        if target - len(data) <= _SEGMENT_PAYLOAD:
            break
        scale = ((target - _SEGMENT_PAYLOAD // 2) / len(data)) ** 0.5
        bigger = (max(width + 1, int(width * scale)), max(height + 1, int(height * scale)))
        candidate = _noise_jpeg(*bigger, quality, seed)
        if len(candidate) > target:
            break
        data, (width, height) = candidate, bigger
    return _with_metadata(data, target - len(data), seed)


def _noise_jpeg(width: int, height: int, quality: int, seed: int) -> bytes:
    rnd = random.Random(seed)
    noise = Image.frombytes("L", (width, height), rnd.randbytes(width * height))
    base = Image.linear_gradient("L").resize((width, height))
    im = Image.merge("RGB", (noise, base, Image.blend(noise, base, 0.5)))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


#: Bytes an application segment carries at most (its 16-bit length counts itself).
_SEGMENT_PAYLOAD = 65533


def _with_metadata(jpeg: bytes, extra: int, seed: int) -> bytes:
    """``jpeg`` grown by ``extra`` bytes of APP15 segments after its JFIF header.

    Cameras carry EXIF and maker notes in application segments before the
    image data; random bytes stand in for them. Padding *after* EOI is what no
    camera writes, and would make a search for the end marker scan megabytes
    that a real photo does not have.
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
