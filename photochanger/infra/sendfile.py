"""Zero-copy ``socket.sendfile`` for gevent workers.

gunicorn answers a ``wsgi.file_wrapper`` body (an ingest result streamed from
disk, a public download, a gallery preview) with ``socket.sendfile``. gevent's
socket implements that by reading the file in 8 KiB blocks and sending each,
because ``os.sendfile`` does not wait on the event loop: every result would
pass through Python block by block, a visible share of an ingest's CPU.

:func:`cooperative_sendfile` calls ``os.sendfile`` on the non-blocking socket
and, when the socket buffer is full, waits for writability on the event loop
as gevent's own ``sendall`` does; the file's bytes never enter Python.
"""

from __future__ import annotations

import io
import os
from typing import IO, Any

#: One ``os.sendfile`` call sends at most this much (the kernel stops at the
#: socket buffer anyway; CPython caps it the same way, bpo-38319).
_MAX_BLOCK = 1 << 30


def cooperative_sendfile(sock: Any, file: IO[bytes], offset: int = 0, count: int | None = None) -> int:
    """``socket.sendfile`` semantics on a gevent socket, with ``os.sendfile``.

    Sends ``count`` bytes (or up to EOF) from ``offset`` and leaves the file
    position just past the last byte sent, also on error. A file without a
    descriptor (a pipe, an in-memory buffer) goes the read-and-send way.
    """
    from gevent.socket import wait_write

    try:
        fileno = file.fileno()
        size = os.fstat(fileno).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        return int(sock._sendfile_use_send(file, offset, count))
    if count is not None and count <= 0:
        raise ValueError(f"count must be a positive integer (got {count!r})")
    end = size if count is None else min(size, offset + count)
    sockno = sock.fileno()
    timeout = sock.gettimeout()
    position = offset
    try:
        while position < end:
            try:
                sent = os.sendfile(sockno, fileno, position, min(end - position, _MAX_BLOCK))
            except BlockingIOError:
                wait_write(sockno, timeout=timeout)
                continue
            if sent == 0:
                break  # the file shrank under us
            position += sent
        return position - offset
    finally:
        if position > offset:
            file.seek(position)


def install() -> None:
    """Make every gevent socket's ``sendfile`` zero-copy (called in each gunicorn worker)."""
    from gevent import socket as gsocket

    gsocket.socket.sendfile = cooperative_sendfile  # type: ignore[method-assign,assignment]
