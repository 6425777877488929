"""ArrivingBytes: a file another thread reads while its bytes are still being fed."""

from __future__ import annotations

import io
import threading
import time

import pytest

from photochanger.infra import arriving as arriving_mod
from photochanger.infra.arriving import ArrivingBytes, UploadAbandoned
from photochanger.media.images import downscale, shrink_file
from tests.support.images import jpeg_bytes, noisy_jpeg


class Reader(threading.Thread):
    """Runs ``fn(buf)`` in a real thread and keeps its result or exception."""

    def __init__(self, buf: ArrivingBytes, fn) -> None:
        super().__init__(daemon=True)
        self.buf, self.fn = buf, fn
        self.result: object = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.fn(self.buf)
        except BaseException as exc:
            self.error = exc

    def outcome(self, timeout: float = 10) -> object:
        self.join(timeout)
        assert not self.is_alive(), "the reader is still waiting"
        if self.error is not None:
            raise self.error
        return self.result


def test_a_read_waits_until_its_bytes_have_arrived():
    buf = ArrivingBytes()
    reader = Reader(buf, lambda b: b.read(6))
    buf.feed(b"abc")
    time.sleep(0.1)
    assert reader.is_alive(), "returned before six bytes existed"
    buf.feed(b"defgh")
    assert reader.outcome() == b"abcdef"


def test_read_all_waits_for_the_end_and_short_reads_end_in_eof():
    buf = ArrivingBytes()
    reader = Reader(buf, lambda b: (b.read(), b.read(10)))
    for piece in (b"one ", b"two ", b"three"):
        buf.feed(piece)
    time.sleep(0.05)
    assert reader.is_alive()
    buf.complete()
    assert reader.outcome() == (b"one two three", b"")


def test_reads_span_chunks_and_seek_moves_anywhere_in_what_arrived():
    buf = ArrivingBytes()
    for piece in (b"0123", b"45", b"6789"):
        buf.feed(piece)
    buf.complete()
    assert buf.read(3) == b"012"
    assert buf.read(5) == b"34567"
    assert buf.seek(-4, io.SEEK_CUR) == 4
    assert buf.read(2) == b"45"
    assert buf.seek(-1, io.SEEK_END) == 9
    assert buf.read() == b"9"
    assert buf.tell() == 10
    with pytest.raises(ValueError):
        buf.seek(-1)


def test_seek_from_the_end_waits_for_the_end():
    buf = ArrivingBytes()
    reader = Reader(buf, lambda b: b.seek(0, io.SEEK_END))
    buf.feed(b"12345")
    time.sleep(0.05)
    assert reader.is_alive()
    buf.complete()
    assert reader.outcome() == 5


def test_abandoning_wakes_a_waiting_reader_with_an_error():
    buf = ArrivingBytes()
    reader = Reader(buf, lambda b: b.read(100))
    buf.feed(b"partial")
    time.sleep(0.05)
    buf.abandon()
    with pytest.raises(UploadAbandoned):
        reader.outcome()


def test_an_abandoned_upload_stops_even_a_reader_that_has_its_bytes():
    buf = ArrivingBytes()
    buf.feed(b"everything")
    buf.complete()
    buf.abandon()
    with pytest.raises(UploadAbandoned):
        buf.read(1)


def test_a_reader_left_waiting_gives_up_after_the_timeout(monkeypatch):
    monkeypatch.setattr(arriving_mod, "READ_TIMEOUT", 0.05)
    with pytest.raises(UploadAbandoned, match="in time"):
        ArrivingBytes().read(1)


def test_joining_the_chunks_keeps_a_reader_in_the_middle_correct():
    buf = ArrivingBytes()
    for i in range(10):
        buf.feed(bytes([i]) * 10)
    buf.complete()
    assert buf.read(15) == b"\x00" * 10 + b"\x01" * 5
    whole = buf.getvalue()
    assert whole is buf.getvalue(), "joined once, then shared"
    assert buf.read(10) == b"\x01" * 5 + b"\x02" * 5
    assert len(whole) == buf.size == 100


def test_pillow_shrinks_a_photo_while_it_arrives_exactly_as_from_whole_bytes():
    photo = noisy_jpeg(2400, 1600)
    buf = ArrivingBytes()
    reader = Reader(buf, lambda b: shrink_file(b, 2048, 1024))
    for i in range(0, len(photo), 48 * 1024):
        buf.feed(photo[i : i + 48 * 1024])
        time.sleep(0.001)  # an upload trickling in
    buf.complete()
    assert reader.outcome() == downscale(photo, "image/jpeg", 2048, 1024)


def test_a_photo_small_enough_is_judged_on_its_header_alone():
    photo = jpeg_bytes(1600, 1000)
    buf = ArrivingBytes()
    reader = Reader(buf, lambda b: shrink_file(b, 2048, 1024))
    buf.feed(photo[:4096])  # the rest never needs to arrive
    assert reader.outcome() is None


def test_the_producer_peeks_at_what_arrived_and_hears_of_every_chunk():
    buf = ArrivingBytes()
    assert buf.peek(10) == b""
    heard = []
    buf.on_feed = lambda: heard.append(buf.size)
    buf.feed(b"abc")
    buf.feed(b"")  # nothing arrived: nobody is told
    buf.feed(b"defgh")
    assert heard == [3, 8]
    assert buf.peek(5) == b"abcde" and buf.peek(100) == b"abcdefgh"
