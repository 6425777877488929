"""Gallery previews: built from the stored result, without stalling the worker."""

from __future__ import annotations

import time

import gevent

from photochanger.infra import background
from photochanger.media import images, previews
from photochanger.media.storage import LocalMediaStore, preview_path
from tests.support.images import jpeg_bytes, open_image

RESULT = "results/slot-001/job-1/payload.jpg"


def test_preview_is_built_from_the_stored_result(tmp_path):
    store = LocalMediaStore(str(tmp_path))
    store.write_atomic(RESULT, jpeg_bytes(1600, 800))

    rel = previews.ensure_preview(store, "slot-001", "job-1", RESULT)

    assert rel == preview_path("slot-001", "job-1")
    preview = open_image(store.read(rel))
    assert preview.format == "WEBP" and max(preview.size) <= 512 and preview.size[0] == 2 * preview.size[1]


def test_an_unreadable_result_is_logged_and_gives_no_preview(tmp_path, caplog):
    store = LocalMediaStore(str(tmp_path))
    store.write_atomic(RESULT, b"not an image")

    assert previews.ensure_preview(store, "slot-001", "job-1", RESULT) is None
    assert not store.exists(preview_path("slot-001", "job-1"))
    assert any(r.message == "preview.failed" for r in caplog.records)


def test_the_event_loop_keeps_turning_while_a_preview_is_encoded(tmp_path, monkeypatch):
    """The decode and encode run in an OS thread: a booth arriving meanwhile is served."""
    monkeypatch.setattr(background, "_gevent_active", lambda: True)
    real = images.make_preview

    def slow_preview(data: bytes) -> bytes:
        time.sleep(0.3)  # a real, GIL-releasing block, like Pillow's codecs
        return real(data)

    monkeypatch.setattr(images, "make_preview", slow_preview)
    store = LocalMediaStore(str(tmp_path))
    store.write_atomic(RESULT, jpeg_bytes())
    job = gevent.spawn(previews.ensure_preview, store, "slot-001", "job-1", RESULT)
    ticks = 0
    while not job.ready() and ticks < 100:
        gevent.sleep(0.01)
        ticks += 1
    assert job.get() == preview_path("slot-001", "job-1")
    assert ticks >= 10  # the loop kept turning while the preview was built
