"""The load generator's paced body: a booth's upload over a link of a given speed."""

from __future__ import annotations

import time

from bench.load import PacedBody


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
