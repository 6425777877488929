"""File answers leave a gevent worker through os.sendfile, cooperatively."""

from __future__ import annotations

import io
import os
import socket

import gevent
import pytest
from gevent import socket as gsocket

from photochanger.infra.sendfile import cooperative_sendfile, install

SIZE = 4 * 1024 * 1024


class NoReads(io.FileIO):
    """A regular file that fails the test if its bytes pass through Python."""

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        raise AssertionError("the file was read in Python instead of sent by the kernel")

    def readinto(self, buffer: object) -> int:  # type: ignore[override]
        raise AssertionError("the file was read in Python instead of sent by the kernel")


@pytest.fixture
def payload(tmp_path):
    data = os.urandom(SIZE)
    path = tmp_path / "payload.png"
    path.write_bytes(data)
    return path, data


@pytest.fixture
def pair():
    a, b = gsocket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)  # forces many waits
    yield a, b
    a.close()
    b.close()


def _drain(sock, expected: int) -> bytes:
    chunks, got = [], 0
    while got < expected:
        chunk = sock.recv(256 * 1024)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
        gevent.sleep(0.001)  # a slow booth
    return b"".join(chunks)


def test_whole_file_is_sent_by_the_kernel_while_other_greenlets_run(payload, pair):
    path, data = payload
    sender, receiver = pair
    reader = gevent.spawn(_drain, receiver, SIZE)
    ticks = []
    ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.001)) for _ in range(10_000)])
    with NoReads(path, "rb") as fh:
        sent = cooperative_sendfile(sender, fh)
        assert fh.tell() == SIZE
    ticker.kill()
    assert sent == SIZE
    assert reader.get(timeout=10) == data
    assert ticks, "the event loop was blocked during the send"


def test_offset_and_count_send_a_slice_and_move_the_file_position(payload, pair):
    path, data = payload
    sender, receiver = pair
    reader = gevent.spawn(_drain, receiver, 100_000)
    with NoReads(path, "rb") as fh:
        assert cooperative_sendfile(sender, fh, offset=1000, count=100_000) == 100_000
        assert fh.tell() == 101_000
    assert reader.get(timeout=10) == data[1000:101_000]


def test_count_past_the_end_stops_at_eof(payload, pair):
    path, data = payload
    sender, receiver = pair
    reader = gevent.spawn(_drain, receiver, 10)
    with NoReads(path, "rb") as fh:
        assert cooperative_sendfile(sender, fh, offset=SIZE - 10, count=1000) == 10
    assert reader.get(timeout=10) == data[-10:]


def test_a_file_without_a_descriptor_is_read_and_sent(pair):
    sender, receiver = pair
    data = os.urandom(300_000)
    reader = gevent.spawn(_drain, receiver, len(data))
    assert cooperative_sendfile(sender, io.BytesIO(data)) == len(data)
    assert reader.get(timeout=10) == data


def test_a_peer_that_stops_reading_times_out_and_the_position_says_how_far_it_got(payload, pair):
    path, _ = payload
    sender, _receiver = pair
    sender.settimeout(0.2)
    with open(path, "rb") as fh:
        with pytest.raises(TimeoutError):
            cooperative_sendfile(sender, fh)
        assert 0 < fh.tell() < SIZE


def test_zero_count_is_refused_like_the_standard_library_does(payload, pair):
    path, _ = payload
    with open(path, "rb") as fh, pytest.raises(ValueError):
        cooperative_sendfile(pair[0], fh, count=0)


def test_install_makes_gevent_sockets_use_it(monkeypatch, payload, pair):
    monkeypatch.setattr(gsocket.socket, "sendfile", gsocket.socket.sendfile)  # restored afterwards
    install()
    path, data = payload
    sender, receiver = pair
    reader = gevent.spawn(_drain, receiver, SIZE)
    with NoReads(path, "rb") as fh:
        assert sender.sendfile(fh) == SIZE
    assert reader.get(timeout=10) == data


def test_a_peer_that_hangs_up_raises_a_socket_error_as_send_does(payload, pair):
    path, _ = payload
    sender, receiver = pair
    gevent.spawn_later(0.05, receiver.close)  # the booth walks away mid-download
    with open(path, "rb") as fh, pytest.raises((BrokenPipeError, ConnectionResetError)):
        cooperative_sendfile(sender, fh)
