"""The benchmark's photos are what a camera sends: image data up to their size."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bench.photos import jpeg_of_size

MB = 1024 * 1024


def _bytes_before_the_frame(jpeg: bytes) -> int:
    """Where the frame header (SOF0) starts: everything before it is headers and metadata."""
    pos = 2
    while jpeg[pos + 1] != 0xC0:
        pos += 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
    return pos


@pytest.mark.parametrize("size", [3 * MB // 2, 5 * MB])
def test_a_photo_is_a_whole_jpeg_of_the_exact_size_nearly_all_image_data(size):
    photo = jpeg_of_size(size)
    assert len(photo) == size
    assert photo.startswith(b"\xff\xd8") and photo.endswith(b"\xff\xd9")
    assert _bytes_before_the_frame(photo) < 64 * 1024  # no more metadata than a camera's EXIF
    with Image.open(io.BytesIO(photo)) as im:
        width, height = im.size
        im.load()
    assert abs(width / height - 1.5) < 0.01
