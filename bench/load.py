"""Load generators (gevent greenlets + requests; the caller has monkey-patched).

Every ingest carries a fresh ``Idempotency-Key``: without it the server would
rightly answer a repeated photo from its earlier result (DESIGN §3) and the
benchmark would measure replays instead of ingests.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import gevent
import requests

from .photos import Body


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def ok(self) -> int:
        return len(self.latencies)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: honest for small samples)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def post(
    session: requests.Session,
    url: str,
    body: Body,
    timeout: float = 120,
    close: bool = False,
    rate: float | None = None,
) -> tuple[int, float, int]:
    """One booth POST: (status, seconds, response bytes); ``close`` asks for a connection of its own.

    With ``rate`` (bytes per second) the upload is paced like a booth's link
    (:class:`PacedBody`) and the seconds count from its last byte sent: what
    the booth waits for once its photo is out.
    """
    headers = {"Content-Type": body.content_type, "Idempotency-Key": uuid.uuid4().hex}
    if close:
        headers["Connection"] = "close"
    data: bytes | PacedBody = body.data if rate is None else PacedBody(body.data, rate)
    start = time.perf_counter()
    resp = session.post(url, data=data, headers=headers, timeout=timeout)
    content = resp.content
    if isinstance(data, PacedBody) and data.last_byte_at is not None:
        start = data.last_byte_at
    return resp.status_code, time.perf_counter() - start, len(content)


def sequential_pairs(
    targets: dict[str, str], body: Body, count: int, rate: float | None = None
) -> dict[str, Outcome]:
    """``count`` requests per target, one at a time, taking turns so noise hits every target alike.

    With ``rate`` the uploads go over a paced link and latencies count from the
    last byte sent (see :func:`post`): on a real link the server has had the
    whole upload to start on the photo, which loopback never gives it.
    """
    sessions = {name: requests.Session() for name in targets}
    out = {name: Outcome() for name in targets}
    for _ in range(count):
        for name, url in targets.items():
            try:
                status, seconds, _ = post(sessions[name], url, body, rate=rate)
            except requests.RequestException as exc:
                out[name].error(type(exc).__name__)
                continue
            if status == 200:
                out[name].latencies.append(seconds)
            else:
                out[name].error(str(status))
    return out


class PacedBody:
    """A request body sent no faster than ``rate`` bytes per second, as over a booth's Wi-Fi.

    requests reads it in blocks (its length gives the ``Content-Length``, as a
    booth sends one); each block leaves when the link would have carried it.
    ``last_byte_at`` is when the last block was handed to the socket.
    """

    def __init__(self, data: bytes, rate: float, block: int = 64 * 1024) -> None:
        self._data = memoryview(data)
        self._rate = rate
        self._block = block
        self._sent = 0
        self._start: float | None = None
        self.last_byte_at: float | None = None

    def __len__(self) -> int:
        return len(self._data)

    def read(self, size: int = -1) -> bytes:
        if self._start is None:
            self._start = time.perf_counter()
        if self._sent >= len(self._data):
            return b""
        size = self._block if size is None or size < 0 else min(size, self._block)
        wait = self._start + self._sent / self._rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        block = self._data[self._sent : self._sent + size].tobytes()
        self._sent += len(block)
        if self._sent >= len(self._data):
            self.last_byte_at = time.perf_counter()
        return block


def closed_loop(
    url: str, bodies: Callable[[int], tuple[str, Body]], concurrency: int, duration: float
) -> Outcome:
    """``concurrency`` booths posting back-to-back for ``duration`` seconds.

    Each photo goes on a connection of its own, as a booth's next shot a minute
    later would: on kept-alive connections a whole cell stays on the workers
    that happened to accept its first connections, and the rate would measure
    which workers those were rather than what the server can do.
    """
    out = Outcome()
    end = time.perf_counter() + duration

    def booth(n: int) -> None:
        session = requests.Session()
        i = 0
        while time.perf_counter() < end:
            path, body = bodies(n + i * concurrency)
            i += 1
            try:
                status, seconds, _ = post(session, url + path, body, close=True)
            except requests.RequestException as exc:
                out.error(type(exc).__name__)
                continue
            if status == 200:
                out.latencies.append(seconds)
            else:
                out.error(str(status))

    start = time.perf_counter()
    gevent.joinall([gevent.spawn(booth, n) for n in range(concurrency)])
    out.elapsed = time.perf_counter() - start
    return out


@dataclass
class Burst:
    outcome: Outcome
    peak_in_flight: int
    peak_rss: int
    peak_master_rss: int


def burst(
    url: str,
    bodies: Callable[[int], tuple[str, Body]],
    count: int,
    sample_rss: Callable[[], tuple[int, int]],
    ramp: float = 2.0,
    timeout: float = 120,
) -> Burst:
    """``count`` booths post at once (spread over ``ramp`` seconds); all wait for their answers."""
    out = Outcome()
    state = {"in_flight": 0, "peak": 0, "rss": 0, "master": 0, "done": False}

    def booth(n: int) -> None:
        gevent.sleep(ramp * n / count)
        path, body = bodies(n)
        session = requests.Session()
        state["in_flight"] += 1
        state["peak"] = max(state["peak"], state["in_flight"])
        try:
            status, seconds, _ = post(session, url + path, body, timeout=timeout)
        except requests.RequestException as exc:
            out.error(type(exc).__name__)
            return
        finally:
            state["in_flight"] -= 1
            session.close()
        if status == 200:
            out.latencies.append(seconds)
        else:
            out.error(str(status))

    def sampler() -> None:
        while not state["done"]:
            workers, master = sample_rss()
            state["rss"] = max(state["rss"], workers)
            state["master"] = max(state["master"], master)
            gevent.sleep(0.25)

    watcher = gevent.spawn(sampler)
    start = time.perf_counter()
    gevent.joinall([gevent.spawn(booth, n) for n in range(count)])
    out.elapsed = time.perf_counter() - start
    state["done"] = True
    watcher.join()
    return Burst(out, int(state["peak"]), int(state["rss"]), int(state["master"]))


def downloads(urls: Sequence[str], concurrency: int, duration: float) -> Outcome:
    """GET result links back-to-back from ``concurrency`` clients."""
    out = Outcome()
    end = time.perf_counter() + duration

    def client(n: int) -> None:
        session = requests.Session()
        i = n
        while time.perf_counter() < end:
            start = time.perf_counter()
            try:
                resp = session.get(urls[i % len(urls)], timeout=30)
                _ = resp.content
            except requests.RequestException as exc:
                out.error(type(exc).__name__)
                continue
            i += concurrency
            if resp.status_code == 200:
                out.latencies.append(time.perf_counter() - start)
            else:
                out.error(str(resp.status_code))

    start = time.perf_counter()
    gevent.joinall([gevent.spawn(client, n) for n in range(concurrency)])
    out.elapsed = time.perf_counter() - start
    return out


#: A phone's receive window, as on Wi-Fi: a result crosses the
#: connection at the phone's pace instead of landing in loopback's large receive
#: buffer at once. (The server's send buffer may still take the whole result.)
PHONE_WINDOW = 64 * 1024


def paced_get(
    url: str,
    rate: float,
    on_bytes: Callable[[int], None] = lambda n: None,
    window: int = PHONE_WINDOW,
    block: int = PHONE_WINDOW,
) -> tuple[int, int]:
    """One GET read at ``rate`` bytes per second, as a guest's phone on Wi-Fi reads it.

    Returns ``(status, bytes received)``, headers included; ``on_bytes`` hears
    of every block as it comes. A raw socket, so that the receive window is
    set before the connection exists.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, window)
        sock.settimeout(60)
        sock.connect((host, port))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        head, got, started = b"", 0, time.perf_counter()
        while chunk := sock.recv(block):
            if len(head) < 16:
                head += chunk[:16]
            got += len(chunk)
            on_bytes(len(chunk))
            gevent.sleep(max(0.0, started + got / rate - time.perf_counter()))
    finally:
        sock.close()
    fields = head.split(b" ", 2)
    return (int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0), got


@dataclass
class Phones:
    """What phones downloading at Wi-Fi pace got: whole downloads and every byte."""

    outcome: Outcome
    received: int = 0


def phones(urls: Sequence[str], count: int, rate: float) -> Callable[[], Phones]:
    """``count`` phones fetching ``urls`` back to back at ``rate`` bytes/s each, until stopped.

    Returns ``stop``, which ends every phone at once and returns the tally,
    its ``elapsed`` counted from the start.
    """
    tally = Phones(Outcome())
    out = tally.outcome
    started = time.perf_counter()

    def count_bytes(n: int) -> None:
        tally.received += n

    def phone(n: int) -> None:
        i = n
        while True:
            begun = time.perf_counter()
            try:
                status, _ = paced_get(urls[i % len(urls)], rate, count_bytes)
            except OSError as exc:
                out.error(type(exc).__name__)
                gevent.sleep(0.1)
                continue
            i += count
            if status == 200:
                out.latencies.append(time.perf_counter() - begun)
            else:
                out.error(str(status))

    running = [gevent.spawn(phone, n) for n in range(count)]

    def stop() -> Phones:
        gevent.killall(running)
        out.elapsed = time.perf_counter() - started
        return tally

    return stop
