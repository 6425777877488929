"""Request bodies that stop arriving, and answers given before a body has all arrived.

Two promises at the WSGI edge, for every request (issue 20, rows 1, 2, 16):

- **Idle body.** A client that stops sending mid-body is answered 408
  ``body_timeout`` after :data:`IDLE` seconds without a byte, and its
  connection is closed. Gunicorn reads a body with no timeout at all, so
  one half-sent body held a connection (and its greenlet) forever. The wait
  is the socket's own timeout (gevent's timer around each ``recv``), set
  only while the application reads the body.
- **Early answers.** An answer given before the body was read (404 unknown
  slot, 401, 413 by ``Content-Length``) is followed by reading and dropping
  the rest of the body, up to :data:`DRAIN_BYTES` within
  :data:`DRAIN_SECONDS`: a client that writes its whole body before it reads
  (.NET after ``100 Continue``) would otherwise get a reset instead of the
  answer, since closing a socket with unread bytes resets it. A request
  marked with :func:`close_without_drain` (refused before its upload, to
  free the connection) skips the drain; its connection is shut down after
  the answer.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import gevent

from photochanger.errors import ApiError

#: Seconds without a byte of the body before the request is given up.
IDLE = 15.0
#: Most bytes read and dropped after an early answer.
DRAIN_BYTES = 64 * 1024 * 1024
#: Longest time spent reading and dropping them.
DRAIN_SECONDS = 30.0
_DRAIN_CHUNK = 256 * 1024
_NO_DRAIN_KEY = "photochanger.close_without_drain"
_BODY_KEY = "photochanger.body"
_AFTER_BODY_KEY = "photochanger.after_body"


class GuardedInput:
    """``wsgi.input`` with an idle timeout per read; counts what was read."""

    def __init__(self, stream: Any, sock: socket.socket | None, idle: float, length: int | None) -> None:
        self._stream = stream
        self._sock = sock
        self.idle = idle
        self.length = length
        self.read_bytes = 0
        self.ended = length == 0
        self.timed_out = False

    def _guarded(self, read: Callable[..., Any], *args: Any) -> Any:
        sock = self._sock
        if sock is not None:
            sock.settimeout(self.idle)
        try:
            return read(*args)
        except TimeoutError:
            self.timed_out = True
            raise ApiError(
                "body_timeout", f"Клиент не передавал данные {self.idle:.0f} с: запрос прерван"
            ) from None
        finally:
            if sock is not None:
                sock.settimeout(None)

    def _count(self, data: bytes, asked: int | None) -> bytes:
        self.read_bytes += len(data)
        if not data and asked != 0:
            self.ended = True
        elif self.length is not None and self.read_bytes >= self.length:
            self.ended = True
        return data

    def read(self, size: int | None = None) -> bytes:
        return self._count(self._guarded(self._stream.read, size), size)

    def readline(self, size: int | None = None) -> bytes:
        return self._count(self._guarded(self._stream.readline, size), size)

    def readlines(self, hint: int | None = None) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    @property
    def unread(self) -> bool:
        """Whether some of the body may still be on its way."""
        return not self.ended


def close_without_drain(environ: dict[str, Any]) -> None:
    """After this request's answer, close its connection without reading the rest of its body."""
    environ[_NO_DRAIN_KEY] = True


def once_body_is_done(environ: dict[str, Any], fn: Callable[[], None]) -> None:
    """Run ``fn`` once nothing more of this request's body will be read: now, or after the
    drain that follows the answer (so a drained upload still counts as arriving)."""
    body = environ.get(_BODY_KEY)
    if not isinstance(body, GuardedInput) or not body.unread or environ.get("gunicorn.socket") is None:
        fn()
        return
    environ.setdefault(_AFTER_BODY_KEY, []).append(fn)


def _run_after_body(environ: dict[str, Any]) -> None:
    for fn in environ.pop(_AFTER_BODY_KEY, []):
        fn()


class BodyGuard:
    """WSGI middleware: the idle-body timeout and the drain after early answers."""

    def __init__(self, app: Callable[..., Iterable[bytes]], idle: float = IDLE) -> None:
        self.app = app
        self.idle = idle

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        guarded = GuardedInput(environ["wsgi.input"], sock, self.idle, _content_length(environ))
        environ["wsgi.input"] = environ[_BODY_KEY] = guarded
        result = self.app(environ, start_response)
        if not guarded.unread or sock is None:
            _run_after_body(environ)
            return result  # untouched, so a file answer still goes by sendfile
        return _AfterAnswer(result, lambda: _finish(environ, guarded, sock))


class _AfterAnswer:
    """The answer's iterable, with ``finish`` run once gunicorn has sent it."""

    def __init__(self, result: Iterable[bytes], finish: Callable[[], None]) -> None:
        self._result = result
        self._finish = finish

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()


def _finish(environ: dict[str, Any], body: GuardedInput, sock: socket.socket) -> None:
    """Drain the rest of the body, or shut the connection when that is not worth it."""
    try:
        if not body.timed_out and not environ.get(_NO_DRAIN_KEY) and _drain(body):
            return  # the body is all read: the connection can serve its next request
        # Shut, not close: gunicorn closes it next, and its read of the
        # rest of the body ends at once instead of waiting.
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    finally:
        _run_after_body(environ)


def _drain(body: GuardedInput) -> bool:
    """Read and drop the rest of the body within the bounds; whether it all came."""
    budget = DRAIN_BYTES
    if body.length is not None and body.length - body.read_bytes > budget:
        return False  # more than we would read: do not make the client send it
    try:
        with gevent.Timeout(DRAIN_SECONDS, False):
            while body.unread and budget > 0:
                budget -= len(body.read(min(_DRAIN_CHUNK, budget)))
    except (ApiError, OSError):
        return False
    return not body.unread


def _content_length(environ: dict[str, Any]) -> int | None:
    try:
        value = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        return None
    if value >= 0:
        return value
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    return None if chunked else 0
