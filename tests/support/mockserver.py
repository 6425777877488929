"""A real HTTP server on 127.0.0.1 for provider mocks, scripted step by step.

Subclasses (``MockGemini``, ``MockTurbotext``) implement :meth:`MockServer.handle`;
this module owns the socket, the background thread, request recording, the
queue of scripted behaviours and the special "answers" (reset, disconnect,
hang) that need the raw connection.

Common API of every mock::

    mock = MockGemini(default="success", hang_seconds=60.0)  # starts at once, free port
    mock.url                     # "http://127.0.0.1:<port>", no trailing slash
    mock.enqueue("a", step("b", opt=1))  # consumed in order, then `default` forever
    mock.requests                # [RecordedRequest(method, path, query, headers, body, json, form)]
    mock.stop()                  # or `with MockX() as mock:`; releases hanging handlers first

An unknown behaviour name raises ``ValueError`` at ``enqueue`` time, not mid-test.
``FileHost`` serves fixed bytes at URLs (a stand-in for provider-media links).
"""

from __future__ import annotations

import email.policy
import io
import json
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

import requests
from PIL import Image


@dataclass(frozen=True)
class Step:
    """One scripted behaviour: a name from the mock's ``BEHAVIOURS`` plus options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


def step(name: str, **options: Any) -> Step:
    """``step("success", snake_case=True)`` — a behaviour with options."""
    return Step(name, options)


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class RecordedRequest:
    """What the mock received; ``headers`` keys are lower-case.

    ``form`` holds urlencoded or multipart text fields (the last value of a
    repeated name), ``files`` the multipart file parts in order.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, str] | None = None
    files: list[Upload] = field(default_factory=list)


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], list[Upload]]:
    """Text fields and file parts of a ``multipart/form-data`` body."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    files: list[Upload] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            fields[str(name)] = data.decode()
        else:
            files.append(Upload(str(name), filename, part.get_content_type(), data))
    return fields, files


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=UTF-8"
    headers: tuple[tuple[str, str], ...] = ()


def json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode(), headers=headers)


#: Special answers that act on the connection instead of sending a response.
RESET = "reset"  # TCP RST after reading the request (ConnectionResetError)
DISCONNECT = "disconnect"  # close without a response (RemoteDisconnected)


def image_bytes(
    size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (0, 160, 90), fmt: str = "PNG"
) -> bytes:
    """A real solid-colour image (``fmt`` as Pillow names it), so drivers' image checks pass."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


def png_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (0, 160, 90)) -> bytes:
    return image_bytes(size, color, "PNG")


@dataclass(frozen=True)
class Fetch:
    """The mock's GET of an input link: did it give a real image?"""

    field: str
    url: str
    status: int | None
    ok: bool
    error: str = ""


def fetch_image(name: str, url: str, timeout: float) -> Fetch:
    """GET an input link as a provider does; did it give a real image?"""
    try:
        resp = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        return Fetch(name, url, None, False, str(exc))
    if not image_ok(resp.content):
        return Fetch(name, url, resp.status_code, False, "not an image")
    return Fetch(name, url, resp.status_code, resp.status_code == 200)


def image_ok(data: bytes) -> bool:
    """True when Pillow reads ``data`` as an image."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
    except Exception:
        return False
    return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs and requests' pool
    # Headers and body are separate writes: with Nagle on, the body waited ~40 ms
    # for the client's delayed ACK on every reused connection. Real front ends set it.
    disable_nagle_algorithm = True
    server: _Server
    timeout = 10  # idle keep-alive connections must not pile up threads forever

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        mock = self.server.mock
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        ctype = self.headers.get("Content-Type") or ""
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query={k: v[-1] for k, v in parse_qs(parts.query).items()},
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        if "json" in ctype:
            try:
                request.json = json.loads(body)
            except ValueError:
                request.json = None
        elif ctype.startswith("multipart/form-data"):
            request.form, request.files = parse_multipart(body, ctype)
        elif "x-www-form-urlencoded" in ctype:
            request.form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        with mock.lock:
            mock.requests.append(request)
        answer = mock.handle(request)
        if answer in (RESET, DISCONNECT):
            if answer == RESET:
                # SO_LINGER 0 makes close() send RST instead of FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        assert isinstance(answer, Reply)
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:
            self.close_connection = True  # the client gave up (e.g. after a hang)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler must never block interpreter exit
    mock: MockServer


class MockServer:
    """Base of the provider mocks: start on a free port, record, script, stop.

    Use as a context manager or call :meth:`stop`. Scripted steps are consumed
    one per "job" (see the subclass); when the queue is empty ``default`` is used.
    """

    BEHAVIOURS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, default: str | Step = "success", hang_seconds: float = 60.0) -> None:
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()
        self.hang_seconds = hang_seconds
        self._default = self._as_step(default)
        self._queue: deque[Step] = deque()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.mock = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def enqueue(self, *steps: str | Step) -> None:
        """Script the next behaviours in order, e.g. ``enqueue("no_image", "success")``."""
        with self.lock:
            self._queue.extend(self._as_step(s) for s in steps)

    def reset(self) -> None:
        """Forget the script and the recorded requests, as a fresh mock would."""
        with self.lock:
            self._queue.clear()
            self.requests.clear()

    def next_step(self) -> Step:
        with self.lock:
            return self._queue.popleft() if self._queue else self._default

    def hang(self, seconds: float | None = None) -> bool:
        """Block like a stuck provider; returns early (True) when the mock stops."""
        return self._stopping.wait(self.hang_seconds if seconds is None else seconds)

    def handle(self, request: RecordedRequest) -> Reply | str:
        raise NotImplementedError

    def connection_answer(
        self, name: str, opts: dict[str, Any], then: Callable[[], Reply | str]
    ) -> Reply | str | None:
        """The shared behaviours ``reset``, ``disconnect`` and ``hang`` (then ``then()``); else ``None``."""
        if name == "reset":
            return RESET
        if name == "disconnect":
            return DISCONNECT
        if name == "hang":
            self.hang(opts.get("seconds"))
            return then()
        return None

    def stop(self) -> None:
        self._stopping.set()  # releases hanging handlers first
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _as_step(self, value: str | Step) -> Step:
        result = Step(value) if isinstance(value, str) else value
        if result.name not in self.BEHAVIOURS:
            raise ValueError(f"unknown behaviour {result.name!r}; known: {sorted(self.BEHAVIOURS)}")
        return result


class FileHost(MockServer):
    """Serves fixed bytes at ``/files/<name>``: a stand-in for ``/public/provider-media`` links.

    ``host.add("photo.jpg", data, "image/jpeg")`` returns the absolute URL; GETs are
    recorded in ``requests`` like any mock's.
    """

    BEHAVIOURS: ClassVar[frozenset[str]] = frozenset({"serve"})

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        super().__init__(default="serve")

    def add(self, name: str, data: bytes, mime: str) -> str:
        with self.lock:
            self.files[name] = (data, mime)
        return f"{self.url}/files/{name}"

    def handle(self, request: RecordedRequest) -> Reply | str:
        with self.lock:
            found = self.files.get(request.path.removeprefix("/files/"))
        if request.method != "GET" or found is None:
            return Reply(404, b"not found", "text/plain")
        return Reply(200, found[0], found[1])
