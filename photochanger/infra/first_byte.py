"""A request's arrival, stamped when its first byte is read.

The ingest deadline counts from the arrival. Gunicorn calls the app only once
the request line and every header are parsed, so a client that trickles its
headers would otherwise get that time on top of its deadline. The gevent worker
below stamps each request when the parser's first read of it returns (for a
keep-alive connection, the first read of the next request) and hands the stamp
to the app through a greenlet-local: the worker calls the app in the greenlet
that parsed the request.
"""

from __future__ import annotations

import time
from typing import Any

from gevent.local import local
from gunicorn.http.message import Request
from gunicorn.http.parser import RequestParser
from gunicorn.workers.ggevent import GeventWorker

ARRIVAL_KEY = "photochanger.arrival"

_current = local()


def first_byte_time() -> float | None:
    """``time.monotonic()`` of the current request's first byte, if a worker stamped it."""
    return getattr(_current, "first_byte_at", None)


class FirstByteRequest(Request):  # type: ignore[misc]  # gunicorn is untyped
    """Gunicorn's request, stamped when its first read returns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.first_byte_at: float | None = None
        super().__init__(*args, **kwargs)  # parses the request line and headers

    def read_into(self, unreader: Any, buf: bytearray, stop: bool = False) -> None:
        super().read_into(unreader, buf, stop)
        if self.first_byte_at is None:
            self.first_byte_at = time.monotonic()


class FirstByteWorker(GeventWorker):  # type: ignore[misc]  # gunicorn is untyped
    """Gunicorn's gevent worker whose requests carry their first byte's time."""

    def init_process(self) -> None:
        # Gunicorn's parser builds each request from this class attribute; only this process.
        RequestParser.mesg_class = FirstByteRequest
        super().init_process()

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        _current.first_byte_at = getattr(req, "first_byte_at", None)
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            _current.first_byte_at = None
