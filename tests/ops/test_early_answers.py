"""Early answers reach a client that writes its whole body before it reads (issue 20, row 16).

.NET's HttpClient, once it has a ``100 Continue``, sends the whole body and only
then reads. An answer the server gave early (404 for an unknown slot, 413 by
``Content-Length``) used to be followed by a close with the body unread, which
the client's kernel turns into a reset: the JSON never arrived.
"""

from __future__ import annotations

import os

import pytest

from tests.support.booth import booth_body
from tests.support.raw_http import Answer, read_answer, start_post


def _write_all_then_read(url: str, path: str, body: bytes, content_type: str, connection: str) -> Answer:
    """POST as a .NET client after ``100 Continue`` does: every byte written before reading."""
    headers = {"Expect": "100-continue", "Connection": connection}
    with start_post(url, path, content_type, len(body), headers=headers) as sock:
        sock.sendall(body)
        return read_answer(sock)


@pytest.fixture(scope="module")
def server(stack):
    return stack.server


@pytest.mark.parametrize("connection", ["close", "keep-alive"])
def test_unknown_slot_404_reaches_a_client_that_writes_first(server, connection) -> None:
    body, content_type = booth_body(os.urandom(6 * 1024 * 1024))  # more than both socket buffers
    for _ in range(4):  # both workers
        answer = _write_all_then_read(server.url, "/ingest/no-such-slot", body, content_type, connection)
        assert answer.status == 404, answer.body
        assert answer.json()["failure_reason"] == "slot_not_found"


def test_413_by_content_length_reaches_a_client_that_writes_first(server) -> None:
    body, content_type = booth_body(os.urandom(30 * 1024 * 1024))
    for _ in range(2):
        answer = _write_all_then_read(server.url, "/ingest/slot-001", body, content_type, "close")
        assert answer.status == 413, answer.body
        assert answer.json()["failure_reason"] == "payload_too_large"
