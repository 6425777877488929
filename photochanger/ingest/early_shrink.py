"""Shrinking the booth's photo for the provider while it is still being uploaded.

A provider such as Gemini gets the photo reduced to ~1–2K px, and decoding a
multi-megabyte JPEG is the costliest step of an ingest. The upload itself
takes longer than that over a studio's Wi-Fi, so the decode starts on the
first bytes of the file part, in an OS thread reading them as they arrive
(:class:`~photochanger.infra.arriving.ArrivingBytes`, read back from the
upload's disk spool), and the provider call
finds the photo ready.

It is only a head start: the stored input is always the upload as received,
and any doubt (no free thread, another file part, a decoder error, a rejected
request) falls back to the driver's own :meth:`~ProviderDriver.prepare`.

The thread starts once the first bytes have told the photo's size: a photo
already within the provider's box (a booth set to print size) goes as it is,
and handing it to a thread only to read its header cost more than the header.
"""

from __future__ import annotations

import _queue
import dataclasses
import logging
from collections.abc import Callable
from typing import IO, Any, cast

from gevent import monkey

from photochanger.infra import metrics
from photochanger.infra.arriving import ArrivingBytes
from photochanger.media.images import shrink_file, size_from_head
from photochanger.media.upload import Upload
from photochanger.providers.base import ImageInput, ProviderDriver, ProviderJob

log = logging.getLogger("photochanger.ingest")

#: Threads one worker process lends to early shrinking. A thread mostly waits
#: for a slow upload; beyond this many uploads at once the rest are shrunk the
#: usual way, after they have arrived.
MAX_THREADS = 8
#: Smaller uploads are shrunk after arrival: their decode costs a few ms and
#: most of them need none.
MIN_BYTES = 1024 * 1024
#: The size must show within this many bytes (a JPEG's headers, EXIF included,
#: are rarely above 64 KB); past them the thread starts and finds out itself.
HEADER_BYTES = 256 * 1024

# The thread count is shared between the event loop and the shrinking threads,
# so it needs a real lock (gevent's would be wrong across OS threads).
_lock = monkey.get_original("_thread", "allocate_lock")()
_start_thread = monkey.get_original("_thread", "start_new_thread")
_running = 0


def _reserve() -> bool:
    global _running
    with _lock:
        if _running >= MAX_THREADS:
            return False
        _running += 1
        return True


def _release() -> None:
    global _running
    with _lock:
        _running -= 1


class EarlyShrink:
    """One request's head start on shrinking its photo (see the module doc).

    The event loop calls :meth:`attach` when a file part starts and
    :meth:`close` when the request ends; :meth:`take` is called from the
    thread that prepares the provider job.
    """

    def __init__(self, max_side: int, min_side: int, max_megapixels: int | None = None) -> None:
        self.max_side = max_side
        self.min_side = min_side
        self.max_pixels = None if max_megapixels is None else max_megapixels * 1_000_000
        self.source: ArrivingBytes | None = None
        #: how it ended, for the metric: busy, used, as_is, too_large, failed, unused
        self.outcome = "unused"
        self._done: Any = _queue.SimpleQueue()
        self._result: tuple[bytes, str] | BaseException | None = None
        self._started = False
        self._taken = False

    @classmethod
    def for_upload(
        cls,
        driver: ProviderDriver | None,
        settings: dict[str, Any],
        content_length: int | None,
        max_megapixels: int | None = None,
    ) -> EarlyShrink | None:
        """A head start for this slot's driver, or ``None`` when it would not help."""
        if driver is None or (content_length or 0) < MIN_BYTES:
            return None
        box = driver.photo_box(settings)
        return None if box is None else cls(*box, max_megapixels)

    def attach(self, source: ArrivingBytes) -> None:
        """Follow the request's first file part; the thread starts once its size is known."""
        if self.source is not None or self.outcome in ("busy", "as_is", "too_large"):
            return
        self.source = source
        source.on_feed = self._arrived
        if source.size:
            self._arrived()

    def _arrived(self) -> None:
        """In the event loop, after each chunk until decided: as it is, or a thread."""
        source = self.source
        assert source is not None
        size = size_from_head(source.peek(HEADER_BYTES))
        if size is None and source.size < HEADER_BYTES:
            return  # the headers are still arriving
        source.on_feed = None
        if size is not None and max(size) <= self.max_side:
            self.outcome, self.source = "as_is", None
            return
        if size is not None and self.max_pixels is not None and size[0] * size[1] > self.max_pixels:
            # Over the pixel cap: the upload is refused once parsed, so nothing is decoded.
            self.outcome, self.source = "too_large", None
            return
        if not _reserve():
            self.outcome, self.source = "busy", None
            return
        try:
            _start_thread(self._run, ())
        except RuntimeError:  # no thread to be had: prepare() shrinks it after arrival
            _release()
            self.outcome, self.source = "busy", None
            return
        self._started = True

    def _run(self) -> None:
        try:
            result = self._shrink()
        finally:
            _release()
        self._done.put(result)

    def _shrink(self) -> tuple[bytes, str] | BaseException | None:
        assert self.source is not None
        try:
            return shrink_file(cast(IO[bytes], self.source), self.max_side, self.min_side)
        except BaseException as exc:  # noqa: BLE001 - handed over; prepare() redoes the work
            return exc

    @property
    def reading(self) -> bool:
        """Whether a thread is still shrinking the photo from its arriving bytes."""
        return self._started and self.source is not None

    def serves(self, stream: Any) -> bool:
        """Whether the shrinking started on ``stream``, the file part the ingest chose."""
        return self.source is not None and getattr(stream, "arriving", None) is self.source

    def take(self) -> tuple[bytes, str] | None:
        """Wait (in a thread) for the shrunk photo: ``(data, mime)``, or ``None``
        when the photo should go as it is or the driver has to shrink it itself.
        """
        if self.source is None:
            return None
        if not self._taken:
            # Called once the upload was parsed to its end, so no more bytes come
            # (the part's end already said so; this only makes sure) and the
            # wait is the rest of the decode.
            self.source.complete()
            # A part that ended before its headers told the size is looked at
            # here, in the preparing thread, as a whole.
            self._result = self._done.get() if self._started else self._shrink()
            self._taken = True
        result = self._result
        if isinstance(result, BaseException):
            self.outcome = "failed"
            return None
        self.outcome = "as_is" if result is None else "used"
        return result

    def close(self) -> None:
        """The request is over: stop a decode nobody will use, count the outcome."""
        if self.source is not None:
            self.source.on_feed = None
            self.source.abandon()
        if self.outcome == "failed":  # the upload passed its checks, so this is worth a look
            log.warning(
                "ingest.early_shrink_failed",
                extra={"event": "ingest.early_shrink_failed", "error": repr(self._result)[:300]},
            )
        metrics.early_shrink(self.outcome)


def prepare_job(
    driver: ProviderDriver,
    job: ProviderJob,
    early: EarlyShrink | None,
    stored: Callable[[], bytes] | None = None,
) -> ProviderJob:
    """:meth:`ProviderDriver.prepare`, starting from the photo ``early`` already shrank,
    else from the job's photo, or when the job holds none, the ``stored`` one read from disk."""
    shrunk = early.take() if early is not None else None
    if shrunk is not None and job.photo is not None:
        data, mime = shrunk
        job = dataclasses.replace(job, photo=ImageInput(data, mime, job.photo.role))
    elif job.photo is not None and not job.photo.data and stored is not None:
        job = dataclasses.replace(job, photo=ImageInput(stored(), job.photo.mime, job.photo.role))
    return driver.prepare(job)


def then_release(prepared: Callable[[], ProviderJob], upload: Upload | None) -> Callable[[], ProviderJob]:
    """``prepared``, after which the upload's bytes are dropped.

    The photo is stored by then, and the prepared job holds what the provider
    needs (for most providers a photo shrunk to ~2K px): while the provider
    works, hundreds of waiting ingests hold only that, not their originals.
    """

    def wait() -> ProviderJob:
        job = prepared()
        if upload is not None:
            upload.release()
        return job

    return wait
