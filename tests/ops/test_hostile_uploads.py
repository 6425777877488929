"""Clients that tie up uploads cannot tie up the server (issue 20, rows 1 and 2).

Row 1: uploads with a wrong password, held open short of their end, were read
whole (into memory and ``media/arriving/``) before the password was looked at.
Row 2: connections that sent half a body and then nothing were never closed,
and enough of them made ``/healthz`` time out.
"""

from __future__ import annotations

import os
import select
import socket
import time

import requests
from urllib3 import encode_multipart_formdata

from tests.support.booth import BOOTH_FIELDS, bytes_arriving
from tests.support.raw_http import Answer, closed_by_server, read_answer, start_post

_PHOTO = b"\xff\xd8\xff\xe0" + os.urandom(15 * 1024 * 1024)


def _body(password: str) -> tuple[bytes, str]:
    """A booth's body: its text fields (the password among them) first, then the photo."""
    fields = {**BOOTH_FIELDS, "password": password, "fileToUpload": ("IMG_0001.JPG", _PHOTO, "image/jpeg")}
    return encode_multipart_formdata(fields)


def _healthz_fast(url: str) -> float:
    started = time.monotonic()
    assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
    return time.monotonic() - started


def _answers_within(sockets: list[socket.socket], seconds: float) -> dict[socket.socket, Answer]:
    """The answers that arrive on ``sockets`` within ``seconds``."""
    answers: dict[socket.socket, Answer] = {}
    end = time.monotonic() + seconds
    while len(answers) < len(sockets) and time.monotonic() < end:
        waiting = [sock for sock in sockets if sock not in answers]
        readable, _, _ = select.select(waiting, [], [], max(0.0, end - time.monotonic()))
        for sock in readable:
            answers[sock] = read_answer(sock)
    return answers


def test_a_wrong_password_is_refused_before_the_file_arrives(app_env, live_server) -> None:
    server = live_server(workers=2)
    body, content_type = _body("wrong-password")
    head_end = body.index(b"\xff\xd8\xff\xe0") + 1024 * 1024  # the fields and 1 MB of the photo
    held = []
    for _ in range(8):  # both workers
        sock = start_post(server.url, "/ingest/slot-001", content_type, len(body), timeout=5)
        sock.sendall(body[:head_end])
        started = time.monotonic()
        answer = read_answer(sock)
        assert answer.status == 401, answer.body
        assert answer.json()["failure_reason"] == "unauthorized"
        assert time.monotonic() - started < 2
        held.append(sock)
    assert bytes_arriving(app_env["MEDIA_ROOT"]) == 0  # nothing of the photos was written
    for sock in held:
        sock.close()


def test_half_sent_bodies_are_capped_answered_and_closed(live_server) -> None:
    idle = 10
    server = live_server(
        workers=2, BODY_IDLE_TIMEOUT=str(idle), UPLOADS_PER_CLIENT="4", UPLOADS_IN_FLIGHT="5"
    )
    body, content_type = _body("123456")
    half = body[: len(body) // 2]

    def half_sent(source: str) -> socket.socket:
        sock = start_post(
            server.url, "/ingest/slot-001", content_type, len(body), source=source, timeout=idle + 10
        )
        sock.sendall(half[: 256 * 1024])
        return sock

    # One address: 4 uploads still arriving are let in, the rest refused at once.
    sockets = [half_sent("127.0.0.1") for _ in range(300)]
    answered = _answers_within(sockets, idle - 3)
    refused = list(answered.values())
    assert _healthz_fast(server.url) < 1
    assert len(refused) == 296, [a.status for a in refused][:10]
    assert all(a.status == 429 and a.json()["failure_reason"] == "too_many_uploads" for a in refused)
    assert all(a.headers["retry-after"] == "5" and "адреса" in a.json()["message"] for a in refused)

    # Other addresses: the host has room for 5 in all, so the sixth is refused 503.
    others = [half_sent("127.0.0.2"), half_sent("127.0.0.3")]
    refused_others = _answers_within(others, 3)
    assert len(refused_others) == 1  # whichever a worker took second
    busy = next(iter(refused_others.values()))
    assert busy.status == 503 and busy.json()["failure_reason"] == "uploads_busy", busy.body
    assert busy.headers["retry-after"] == "5"

    # The held ones are answered 408 and closed once idle; /healthz stays fast meanwhile.
    started = time.monotonic()
    while time.monotonic() - started < idle + 2:
        assert _healthz_fast(server.url) < 1
        time.sleep(0.3)
    held = [sock for sock in sockets + others if sock not in answered and sock not in refused_others]
    assert len(held) == 5
    for sock in held:
        timed_out = read_answer(sock)
        assert timed_out.status == 408 and timed_out.json()["failure_reason"] == "body_timeout"
        assert closed_by_server(sock)
    for sock in sockets + others:
        sock.close()


def test_bodies_drained_after_a_401_still_count_against_their_address(live_server) -> None:
    """A wrong password is answered at once, but the rest of its body is read and dropped
    (so a client that writes first gets the answer): meanwhile it is still an upload arriving."""
    server = live_server(workers=2, BODY_IDLE_TIMEOUT="10", UPLOADS_PER_CLIENT="3")
    body, content_type = _body("wrong-password")
    head_end = body.index(b"\xff\xd8\xff\xe0") + 1024 * 1024  # the parser reads 1 MiB at first
    held = []
    for _ in range(3):
        sock = start_post(server.url, "/ingest/slot-001", content_type, len(body), timeout=5)
        sock.sendall(body[:head_end])
        assert read_answer(sock).status == 401
        held.append(sock)
    with start_post(server.url, "/ingest/slot-001", content_type, len(body), timeout=5) as sock:
        answer = read_answer(sock)  # refused on its head alone
    assert answer.status == 429 and answer.json()["failure_reason"] == "too_many_uploads", answer.body
    for sock in held:
        sock.close()
