"""An ingest's photo arrives into its disk spool, not memory, and is checked from there."""

from __future__ import annotations

import errno
import hashlib
import tracemalloc

import pytest

from photochanger.errors import ApiError
from photochanger.infra.request import HashingUpload
from photochanger.media.spool import SPOOL_DIR, InputSpool
from photochanger.media.storage import LocalMediaStore
from photochanger.media.upload import read_upload
from tests.support.images import noisy_jpeg

CHUNK = 64 * 1024


def spooled_part(store: LocalMediaStore) -> tuple[HashingUpload, InputSpool]:
    """A file part followed by the request's spool, as the ingest's Intake sets it up."""
    part, spool = HashingUpload(), InputSpool(store)
    assert spool.attach(part)
    part.sink = spool
    return part, spool


def arrive(part: HashingUpload, data: bytes) -> None:
    for at in range(0, len(data), CHUNK):
        part.write(data[at : at + CHUNK])
    part.seek(0)  # how Werkzeug ends a part


@pytest.fixture(scope="module")
def photo() -> bytes:
    return noisy_jpeg(2400, 1800, quality=95)


def test_a_spooled_photo_arrives_without_being_held_in_memory(tmp_path, photo):
    part, _ = spooled_part(LocalMediaStore(str(tmp_path)))
    tracemalloc.start()
    try:
        arrive(part, photo)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(photo) > 2 * 1024 * 1024
    assert peak < len(photo) / 4, peak  # a chunk or two in passing, never the photo
    assert part.on_disk and part.arriving.size == len(photo)


def test_a_spooled_photo_is_checked_from_its_file_and_stored_by_keeping_the_spool(tmp_path, photo):
    store = LocalMediaStore(str(tmp_path))
    part, spool = spooled_part(store)
    arrive(part, photo)
    upload = read_upload(part, "IMG_0001.JPG", limit_mb=20, max_megapixels=64)
    assert (upload.data, upload.size, upload.on_disk) == (b"", len(photo), True)
    assert upload.mime == "image/jpeg"
    assert upload.sha1 == hashlib.sha1(photo).hexdigest()
    assert spool.keep("inputs/slot-001/job.jpg", upload.size)
    assert store.read("inputs/slot-001/job.jpg") == photo


@pytest.mark.parametrize(
    ("cut", "status"),
    [(lambda p: p[: len(p) // 2], 415), (lambda p: b"GIF89a" + p[6:], 415), (lambda p: b"", 400)],
)
def test_a_spooled_part_that_is_no_photo_is_refused_as_one_in_memory(tmp_path, photo, cut, status):
    part, _ = spooled_part(LocalMediaStore(str(tmp_path)))
    arrive(part, cut(photo))
    with pytest.raises(ApiError) as refused:
        read_upload(part, "IMG_0001.JPG", limit_mb=20, max_megapixels=64)
    assert refused.value.status == status


def test_a_spooled_photo_over_the_pixel_cap_or_size_limit_is_refused(tmp_path, photo):
    part, _ = spooled_part(LocalMediaStore(str(tmp_path)))
    arrive(part, photo)
    with pytest.raises(ApiError) as refused:
        read_upload(part, "IMG_0001.JPG", limit_mb=20, max_megapixels=1)
    assert refused.value.reason == "image_too_large"
    with pytest.raises(ApiError) as refused:
        read_upload(part, "IMG_0001.JPG", limit_mb=1, max_megapixels=64)
    assert refused.value.reason == "payload_too_large"


def test_a_disk_that_fills_after_the_first_chunk_refuses_the_upload_with_its_error(tmp_path, photo):
    store = LocalMediaStore(str(tmp_path))
    part, spool = spooled_part(store)
    part.write(photo[:CHUNK])
    # From here on every write meets a full disk (the kernel's ENOSPC, not a fake).
    spool._file.close()  # type: ignore[union-attr]
    spool._file = open("/dev/full", "wb", buffering=0)
    with pytest.raises(OSError) as failed:
        part.write(photo[CHUNK : 2 * CHUNK])
    assert failed.value.errno == errno.ENOSPC
    assert failed.value is spool.error  # the Intake lets it through to the 507 handler
    assert list((tmp_path / SPOOL_DIR).iterdir()) == []  # the half-written spool is gone


def test_a_spool_that_cannot_be_made_leaves_the_photo_in_memory(tmp_path, photo):
    store = LocalMediaStore(str(tmp_path))
    (tmp_path / SPOOL_DIR).write_bytes(b"a file where the folder should be")
    part, spool = spooled_part(store)
    arrive(part, photo)
    assert not part.on_disk
    upload = read_upload(part, "IMG_0001.JPG", limit_mb=20, max_megapixels=64)
    assert upload.data == photo and not upload.on_disk
    assert not spool.serves(part)
