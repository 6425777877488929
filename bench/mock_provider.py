"""A Gemini-wire-compatible provider mock for the benchmark (gevent WSGIServer).

``python -m bench.mock_provider --port P --delay 0.5`` answers every
``POST /v1beta/models/<model>:generateContent`` after ``delay`` seconds with a
real PNG in ``candidates[0].content.parts[0].inlineData``. The delay can be
changed while running: ``POST /_bench/delay?seconds=20``, and the answer can be
sent at a provider link's pace: ``POST /_bench/delay?mbit=20`` (0: at once).
Unlike the
thread-per-connection test mock, one gevent process holds thousands of hanging
connections.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import base64  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from PIL import Image  # noqa: E402

_PATH = re.compile(r"^/v1beta/models/[^/:]+:generateContent$")


def answer_body(side: int = 1024) -> bytes:
    """A 200 generateContent answer carrying a ``side``×``side`` PNG, as Gemini answers.

    Gemini's image output is PNG (the format cannot be chosen), about 1.2 MB for
    a 1K photo-like image. Photo-like means gradients with moderate noise:
    a smooth gradient would compress to a few KB and understate what storing,
    returning and previewing a real answer costs.
    """
    noise = Image.frombytes("L", (side // 2, side // 2), os.urandom(side * side // 4))
    noise = noise.resize((side, side), Image.Resampling.BILINEAR)
    radial = Image.radial_gradient("L").resize((side, side))
    linear = Image.linear_gradient("L").resize((side, side))
    red, green = Image.blend(radial, noise, 0.25), Image.blend(linear, noise, 0.25)
    im = Image.merge("RGB", (red, green, Image.blend(radial, linear, 0.5)))
    out = io.BytesIO()
    im.save(out, "PNG")
    part = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(out.getvalue()).decode()}}
    payload = {
        "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
        "modelVersion": "gemini-2.5-flash-image",
    }
    return json.dumps(payload).encode()


class MockApp:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.mbit = 0.0  # each answer's pace per connection; 0 sends it at once
        self.body = answer_body()
        self.count = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        stream = environ["wsgi.input"]
        while stream.read(1 << 20):  # drain the request like the real API does
            pass
        if path == "/_bench/delay":
            query = dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)
            self.delay = float(query.get("seconds", self.delay))
            self.mbit = float(query.get("mbit", self.mbit))
            return self._send(start_response, "200 OK", b'{"ok": true}')
        if path == "/_bench/count":
            return self._send(start_response, "200 OK", json.dumps({"count": self.count}).encode())
        if environ["REQUEST_METHOD"] != "POST" or not _PATH.match(path):
            return self._send(start_response, "404 Not Found", b'{"error": {"code": 404}}')
        if not environ.get("HTTP_X_GOOG_API_KEY"):
            return self._send(start_response, "403 Forbidden", b'{"error": {"code": 403}}')
        self.count += 1
        if self.delay > 0:
            gevent.sleep(self.delay)
        return self._send(start_response, "200 OK", self.body, self.mbit)

    @staticmethod
    def _send(
        start_response: Callable[..., Any], status: str, body: bytes, mbit: float = 0.0
    ) -> Iterable[bytes]:
        """``body`` at once, or at ``mbit`` Mbit/s."""
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return _paced(body, mbit * 1_000_000 / 8) if mbit > 0 else [body]


def _paced(body: bytes, bytes_per_second: float, block: int = 64 * 1024) -> Iterable[bytes]:
    """``body`` in blocks, each sent when a link of that rate would have carried it.

    A real answer crosses the internet: while it arrives, the server holds a
    connection and whatever buffer it reads into, which an answer sent at once
    on loopback never shows.
    """
    started = time.monotonic()
    for offset in range(0, len(body), block):
        due = started + offset / bytes_per_second
        gevent.sleep(max(0.0, due - time.monotonic()))
        yield body[offset : offset + block]


class NoDelayServer(WSGIServer):
    """``WSGIServer`` with Nagle's algorithm off, as real HTTP front ends have it.

    pywsgi sends the response headers and the body in separate writes. With
    Nagle on, the body's last segment waits for the client to acknowledge the
    headers, and the client delays that ACK: every provider round trip would
    stall for the delayed ACK, and the benchmark would charge that stall to
    PhotoChanger's overhead.
    """

    def handle(self, sock: socket.socket, address: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    server = NoDelayServer(("127.0.0.1", args.port), MockApp(args.delay), log=None, backlog=4096)
    server.serve_forever()


if __name__ == "__main__":
    main()
