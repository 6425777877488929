"""The load generator's paced links: a booth's upload and a guest's phone downloading."""

from __future__ import annotations

import time

import pytest

from bench.load import PHONE_WINDOW, PacedBody, paced_get
from tests.support.mockserver import FileHost
from tests.support.net import free_port


def test_a_paced_body_gives_every_byte_once_at_the_links_pace():
    data = bytes(range(256)) * 800  # 200 KB
    body = PacedBody(data, rate=1_000_000, block=16 * 1024)
    assert len(body) == len(data)
    started = time.perf_counter()
    blocks = []
    while block := body.read(32 * 1024):
        assert len(block) <= 16 * 1024  # never more than one block at a time
        blocks.append(block)
    assert b"".join(blocks) == data
    # The last block leaves when the link has carried everything before it.
    assert body.last_byte_at is not None
    assert body.last_byte_at - started >= (len(data) - 16 * 1024) / 1_000_000


def test_the_last_byte_is_noted_only_when_it_leaves():
    body = PacedBody(b"x" * 10, rate=1e9, block=4)
    body.read(4)
    assert body.last_byte_at is None
    body.read(4)
    body.read(4)
    assert body.last_byte_at is not None
    assert body.read(4) == b""


@pytest.fixture
def result_server():
    """A real HTTP server with one 300 KB result: its URL and size."""
    body = bytes(range(256)) * 1200
    with FileHost() as host:
        yield host.add("result.png", body, "image/png"), len(body)


def test_a_phone_reads_a_whole_result_at_its_links_pace(result_server):
    url, size = result_server
    heard = []
    started = time.perf_counter()
    status, got = paced_get(url, rate=1_000_000, on_bytes=heard.append)
    took = time.perf_counter() - started
    assert status == 200
    assert got > size  # the body and its headers
    assert sum(heard) == got
    # Each block is read once the link has carried everything before it.
    assert took >= (got - PHONE_WINDOW) / 1_000_000


def test_a_phone_that_cannot_connect_says_why():
    # The phones' loop counts this as an error of its kind and tries again.
    with pytest.raises(ConnectionRefusedError):
        paced_get(f"http://127.0.0.1:{free_port()}/result", rate=1e6)
