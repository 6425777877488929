"""A waiting ingest holds only what its provider still needs (issue 20, row 17).

300 ingests of 5 MB photos waiting on a 20 s provider peaked at 2,666 MB: each
held its whole photo in memory, though the photo was stored on disk and the
provider had been given a shrunk copy. (The measurement: bench/capacity.py.)
"""

from __future__ import annotations

import dataclasses
import gc
import io
import sys

from photochanger.providers.base import ImageInput
from photochanger.runtime import services
from tests.support.app import INGEST_PASSWORD
from tests.support.images import jpeg_bytes, noisy_jpeg


def _held(size: int) -> list[str]:
    """Where a bytes object of exactly ``size`` bytes is still referenced from."""
    found = []
    objects = gc.get_objects()
    step = 20_000  # one C call per chunk: a loaded test process has millions of objects
    for start in range(0, len(objects), step):
        chunk = objects[start : start + step]
        if any(_is_photo(ref, size) for ref in gc.get_referents(*chunk)):
            found += [type(o).__name__ for o in chunk if any(_is_photo(r, size) for r in gc.get_referents(o))]
    for frame in sys._current_frames().values():
        while frame is not None:
            for name, value in frame.f_locals.items():
                if type(value) is bytes and len(value) == size:
                    found.append(f"{frame.f_code.co_name}:{name}")
            frame = frame.f_back
    return found


def _is_photo(ref: object, size: int) -> bool:
    return type(ref) is bytes and len(ref) == size


def _photo() -> tuple[io.BytesIO, int]:
    """A ~2 MB photo (no other object of its size exists) as a stream: the test holds no bytes of it."""
    photo = noisy_jpeg(2400, 1600)
    return io.BytesIO(photo), len(photo)


def test_the_original_photo_is_not_held_while_the_provider_works(app, client, monkeypatch) -> None:
    stream, size = _photo()
    small = jpeg_bytes(300, 200)
    with app.app_context():
        driver = services().drivers["local"]
    seen: dict[str, list[str]] = {}
    real_process = driver.process

    def shrinking_prepare(job):
        # What a provider with a photo box does (see providers/base.py): a smaller copy.
        return dataclasses.replace(job, photo=ImageInput(small, "image/jpeg", "photo"))

    def process(job, ctx):
        assert job.photo.data == small
        seen["held"] = _held(size)
        return real_process(job, ctx)

    monkeypatch.setattr(driver, "prepare", shrinking_prepare)
    monkeypatch.setattr(driver, "process", process)
    resp = client.post(
        "/ingest/slot-001",
        data={"fileToUpload": (stream, "IMG_0001.JPG"), "password": INGEST_PASSWORD},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.get_json()
    assert seen["held"] == [], seen["held"]
