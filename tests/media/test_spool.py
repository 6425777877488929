"""A photo is written to disk while it arrives; any doubt leaves the work to the ingest."""

from __future__ import annotations

import os
import stat
import time

import requests

from photochanger.media.spool import SPOOL_DIR, InputSpool, remove_stale_spools
from photochanger.media.storage import FILE_MODE, LocalMediaStore
from tests.support.booth import HeldUpload, booth_body, bytes_arriving
from tests.support.images import noisy_jpeg


class _Part:
    """Stands for the request's file part."""


PART = _Part()


def spooled(store: LocalMediaStore) -> list[str]:
    folder = store.abspath(SPOOL_DIR)
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def spool_size(store: LocalMediaStore) -> int:
    (name,) = spooled(store)
    return os.path.getsize(os.path.join(store.abspath(SPOOL_DIR), name))


def test_each_chunk_is_on_disk_as_soon_as_it_is_written(tmp_path):
    store = LocalMediaStore(str(tmp_path))
    spool = InputSpool(store)
    assert spooled(store) == []  # nothing is created for a request without a photo
    spool.write(b"a" * 70_000)
    assert spool_size(store) == 70_000
    spool.write(b"b" * 70_000)
    assert spool_size(store) == 140_000
    assert spool.written == 140_000


def test_keeping_moves_the_photo_to_its_stored_path_readable_like_any_stored_file(tmp_path):
    store = LocalMediaStore(str(tmp_path))
    spool = InputSpool(store)
    spool.write(b"head")
    spool.write(b"tail")
    assert spool.keep("inputs/slot-001/job.jpg", 8)
    path = store.abspath("inputs/slot-001/job.jpg")
    assert open(path, "rb").read() == b"headtail"
    assert stat.S_IMODE(os.stat(path).st_mode) == FILE_MODE
    assert spooled(store) == []
    spool.discard()  # the request's end: the stored photo stays
    assert os.path.exists(path)


def test_a_spool_of_another_length_than_the_photo_is_not_kept(tmp_path):
    store = LocalMediaStore(str(tmp_path))
    spool = InputSpool(store)
    spool.write(b"12345")
    assert not spool.keep("inputs/slot-001/job.jpg", 6)
    assert not store.exists("inputs/slot-001/job.jpg")
    assert spooled(store) == []


def test_a_spool_with_nothing_written_is_not_kept(tmp_path):
    store = LocalMediaStore(str(tmp_path))
    assert not InputSpool(store).keep("inputs/slot-001/job.jpg", 0)
    assert not store.exists("inputs/slot-001/job.jpg")


def test_a_disk_that_fills_up_mid_upload_gives_the_spool_up_without_raising(tmp_path):
    store = LocalMediaStore(str(tmp_path))
    spool = InputSpool(store)
    spool.write(b"a" * 1000)
    # From here on every write meets a full disk (the kernel's ENOSPC, not a fake).
    spool._file.close()  # type: ignore[union-attr]
    spool._file = open("/dev/full", "wb", buffering=0)
    spool.write(b"b" * 1000)
    assert spool.written is None
    assert spooled(store) == []  # the half-written file is gone
    spool.write(b"c" * 1000)  # later chunks are ignored
    assert spooled(store) == []
    assert not spool.keep("inputs/slot-001/job.jpg", 3000)


def test_a_spool_folder_that_cannot_be_made_gives_the_spool_up(tmp_path):
    store = LocalMediaStore(str(tmp_path))
    with open(store.abspath(SPOOL_DIR), "wb") as blocker:  # a file where the folder should be
        blocker.write(b"not a folder")
    spool = InputSpool(store)
    spool.write(b"photo")
    assert spool.written is None
    assert not spool.keep("inputs/slot-001/job.jpg", 5)


def test_a_stored_path_that_cannot_be_made_discards_the_spool(tmp_path):
    store = LocalMediaStore(str(tmp_path))
    with open(store.abspath("inputs"), "wb") as blocker:
        blocker.write(b"not a folder")
    spool = InputSpool(store)
    spool.write(b"photo")
    assert not spool.keep("inputs/slot-001/job.jpg", 5)
    assert spooled(store) == []


def test_discarding_removes_the_file_and_may_be_repeated(tmp_path):
    store = LocalMediaStore(str(tmp_path))
    spool = InputSpool(store)
    spool.write(b"photo")
    spool.discard()
    spool.discard()
    assert spooled(store) == []
    spool.write(b"more")  # a discarded spool stays discarded
    assert spooled(store) == []


def test_only_the_first_file_part_is_followed_and_serves_tells_which(tmp_path):
    spool = InputSpool(LocalMediaStore(str(tmp_path)))
    other = _Part()
    assert not spool.serves(PART)
    assert spool.attach(PART)
    assert not spool.attach(other)
    assert spool.serves(PART) and not spool.serves(other)
    spool.discard()
    assert not spool.serves(PART)  # given up: the ingest writes the photo itself


def test_spools_untouched_for_long_are_removed_and_live_ones_kept(tmp_path):
    store = LocalMediaStore(str(tmp_path))
    left_behind, live = InputSpool(store), InputSpool(store)
    left_behind.write(b"x" * 300)
    live.write(b"y" * 100)
    long_ago = time.time() - 3600
    os.utime(left_behind.path or "", (long_ago, long_ago))
    with open(os.path.join(store.abspath(SPOOL_DIR), "README"), "w") as other:
        other.write("not a spool")
    os.utime(other.name, (long_ago, long_ago))
    assert remove_stale_spools(store, time.time() - 600) == (1, 300)
    assert sorted(spooled(store)) == sorted(["README", os.path.basename(live.path or "")])
    live.write(b"y")  # the live upload goes on undisturbed
    assert live.keep("inputs/slot-001/job.jpg", 101)


def test_removing_stale_spools_with_no_folder_yet_finds_nothing(tmp_path):
    assert remove_stale_spools(LocalMediaStore(str(tmp_path)), time.time()) == (0, 0)


# -- in a real server ---------------------------------------------------------------


def test_a_photo_is_on_disk_before_its_last_byte_has_arrived(app, app_env, live_server):
    server = live_server()
    photo = noisy_jpeg(3000, 2000, quality=95)  # ~3.6 MB: the server reads 1 MB at a time
    body, content_type = booth_body(photo)
    store = LocalMediaStore(app_env["MEDIA_ROOT"])

    def on_disk() -> int:
        return bytes_arriving(app_env["MEDIA_ROOT"])

    held = HeldUpload(body, len(body) - 256 * 1024, lambda: on_disk() >= 2 * 1024 * 1024)
    resp = requests.post(
        f"{server.url}/ingest/slot-001", data=held, headers={"Content-Type": content_type}, timeout=60
    )
    assert resp.status_code == 200, resp.text
    assert held.ready_while_held, "the photo was not written while its upload went on"
    assert on_disk() == 0  # moved to its stored path
    stored = [name for _, _, names in os.walk(store.abspath("inputs")) for name in names]
    assert len(stored) == 1
