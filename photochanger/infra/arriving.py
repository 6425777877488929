"""Bytes that are still arriving, readable as a file by another OS thread.

The event loop appends each chunk of an upload as it is parsed; a worker
thread reads the same bytes as a blocking file object, so Pillow can decode a
photo while the rest of it is still on the wire. The two sides share only
immutable ``bytes`` and plain attributes (atomic under the GIL); the reader
sleeps on a C-level queue that gevent does not patch, so it blocks its own OS
thread and never the event loop.

The bytes may instead be in a file the producer appends to (the upload's disk
spool): then only their count is kept here and reads are positional reads of
that file, so an arriving photo holds no memory.
"""

from __future__ import annotations

import _queue
import io
import os
from bisect import bisect_right
from collections.abc import Callable
from typing import IO, Any

#: The longest a reader waits for more bytes before it gives up on the upload:
#: every request ends its upload (complete or abandoned) long before this; it
#: only guards against a thread left waiting forever by a bug.
READ_TIMEOUT = 300.0

_OPEN, _COMPLETE, _ABANDONED = "open", "complete", "abandoned"


class UploadAbandoned(OSError):
    """The upload the reader was waiting for will not be completed."""


class ArrivingBytes(io.RawIOBase):
    """Chunks appended by one producer; read and sought by one reader thread."""

    def __init__(self) -> None:
        super().__init__()
        # (chunks, cumulative end offsets): replaced as one object by getvalue(),
        # so a reader always sees a consistent pair.
        self._store: tuple[list[bytes], list[int]] = ([], [])
        self._size = 0
        self._state = _OPEN
        self._wake: Any = _queue.SimpleQueue()
        self._pos = 0
        self._joined: bytes | None = None
        self._file: IO[bytes] | None = None
        #: called by :meth:`feed` after each chunk, in the producer's event loop
        self.on_feed: Callable[[], None] | None = None

    # -- producer side (the request's event loop) ------------------------------

    def feed(self, chunk: bytes) -> None:
        """Append a chunk and wake the reader."""
        if not chunk:
            return
        chunks, ends = self._store
        chunks.append(bytes(chunk))
        ends.append(self._size + len(chunk))
        self._size += len(chunk)  # published last: the reader trusts only what _size covers
        self._wake.put(None)
        if self.on_feed is not None:
            self.on_feed()

    def use_file(self, file: IO[bytes]) -> None:
        """From now on the bytes are in ``file`` (before any chunk was fed): see :meth:`fed_to_file`."""
        assert self._size == 0, "the file must hold every byte"
        self._file = file

    def fed_to_file(self, count: int) -> None:
        """``count`` more bytes have been appended to the file; wake the reader."""
        if not count:
            return
        self._size += count
        self._wake.put(None)
        if self.on_feed is not None:
            self.on_feed()

    @property
    def on_disk(self) -> bool:
        """Whether the bytes are read from a file rather than held in memory."""
        return self._file is not None

    def complete(self) -> None:
        """No more bytes will come; the reader gets end-of-file after the last one."""
        if self._state == _OPEN:
            self._state = _COMPLETE
            self._wake.put(None)

    def abandon(self) -> None:
        """The upload will not be used: a waiting or later read raises :class:`UploadAbandoned`."""
        if self._state != _ABANDONED:
            self._state = _ABANDONED
            self._wake.put(None)

    def release(self) -> None:
        """Drop the bytes: the upload has been stored and prepared, nobody reads it any more."""
        self.abandon()
        self._store = ([], [])
        self._joined = None
        self._file = None  # closed once no reader holds it

    @property
    def size(self) -> int:
        return self._size

    def peek(self, size: int) -> bytes:
        """Up to the first ``size`` bytes that have arrived, without waiting (producer side)."""
        end = min(size, self._size)
        return self._slice(0, end) if end > 0 else b""

    def getvalue(self) -> bytes:
        """All bytes so far as one object (joined once, then shared; read anew from a file)."""
        if self._file is not None:
            return self._slice(0, self._size) if self._size else b""
        if self._joined is None or len(self._joined) != self._size:
            chunks, _ = self._store
            joined = b"".join(chunks)
            self._joined = joined
            self._store = ([joined], [len(joined)])  # the chunks can be freed
        return self._joined

    # -- reader side (a worker thread) ------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._wait_for(None) + offset
        else:
            raise ValueError(f"invalid whence: {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all remaining for -1), blocking until they arrive."""
        want = None if size is None or size < 0 else self._pos + size
        available = self._wait_for(want)
        end = available if want is None else min(want, available)
        if end <= self._pos:
            return b""
        data = self._slice(self._pos, end)
        self._pos = end
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)

    def _wait_for(self, want: int | None) -> int:
        """Block until ``want`` bytes exist (``None``: until complete); return the size known."""
        while True:
            state = self._state  # read before the size: once complete, the size is final
            size = self._size
            if state == _ABANDONED:
                raise UploadAbandoned("the upload was abandoned")
            if state == _COMPLETE or (want is not None and size >= want):
                return size
            try:
                self._wake.get(timeout=READ_TIMEOUT)
            except _queue.Empty:
                raise UploadAbandoned("no bytes arrived in time") from None

    def _slice(self, start: int, end: int) -> bytes:
        file = self._file
        if file is not None:
            return _read_at(file, start, end)
        chunks, ends = self._store
        i = bisect_right(ends, start)
        pieces = []
        pos = start
        while pos < end:
            chunk_start = ends[i] - len(chunks[i])
            piece = chunks[i][pos - chunk_start : end - chunk_start]
            pieces.append(piece)
            pos += len(piece)
            i += 1
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _read_at(file: IO[bytes], start: int, end: int) -> bytes:
    """Bytes ``start:end`` of ``file``, by positional reads (no shared file offset)."""
    data = os.pread(file.fileno(), end - start, start)
    while len(data) < end - start:  # a short read only at a signal; an empty one means the file shrank
        more = os.pread(file.fileno(), end - start - len(data), start + len(data))
        if not more:
            raise UploadAbandoned("the upload's file is shorter than what arrived")
        data += more
    return data
