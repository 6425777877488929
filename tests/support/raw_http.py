"""HTTP/1.1 over a bare socket, for clients no library imitates:
a body sent in part, or all before reading."""

from __future__ import annotations

import json
import socket
from typing import Any

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def start_post(
    url: str,
    path: str,
    content_type: str,
    length: int,
    *,
    source: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 20,
) -> socket.socket:
    """A connection that has sent the head of a POST declaring ``length`` body bytes."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection(
        (host, int(port)), timeout=timeout, source_address=(source, 0) if source else None
    )
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    )
    sock.sendall(head.encode())
    return sock


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


def read_answer(sock: socket.socket) -> Answer:
    """The final answer on ``sock`` (a ``100 Continue`` skipped); raises on a reset or a timeout."""
    raw = b""
    while True:
        answer = _parse(raw)
        if answer is not None:
            return answer
        chunk = sock.recv(65536)
        if not chunk:
            answer = _parse(raw)
            if answer is None:
                raise ConnectionError(f"closed before a whole answer: {raw[:200]!r}")
            return answer
        raw += chunk


def _parse(raw: bytes) -> Answer | None:
    while raw.startswith(_CONTINUE):
        raw = raw[len(_CONTINUE) :]
    head, sep, payload = raw.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if len(payload) < length:
        return None
    return Answer(int(lines[0].split(" ")[1]), headers, payload[:length])


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has ended the connection (what remains to read, then end of stream)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True
