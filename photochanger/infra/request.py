"""The request class: strict multipart parsing and uploads hashed while they arrive."""

from __future__ import annotations

import hashlib
import io
import tempfile
import time
from collections.abc import Callable
from typing import IO, Any, Protocol

from flask import Request
from werkzeug.formparser import FormDataParser

from photochanger.errors import ApiError
from photochanger.infra.arriving import ArrivingBytes
from photochanger.infra.multipart import FieldWatchingFormParser, OnField

#: Most bytes asked of the WSGI server per read while a form is parsed.
PARSE_BUFFER = 1024 * 1024
#: Fewest bytes asked per read, however slowly the body arrives.
MIN_PARSE_READ = 64 * 1024
#: How long a read should wait for its bytes at the rate the body is arriving.
READ_WAIT = 0.02


class ChunkSink(Protocol):
    """Where a file part's chunks are written as they are parsed (see ``media.spool``)."""

    #: bytes written so far; ``None`` once the sink gave up
    written: int | None
    #: why it gave up mid-write, if it did
    error: OSError | None

    def write(self, chunk: bytes) -> None: ...

    def reader(self) -> IO[bytes] | None: ...


class HashingUpload:
    """The container Werkzeug writes a file part into: SHA-1 and SHA-256 are
    updated chunk by chunk as the part streams in, so the photo is read from
    the socket once, hashed once and never read back just to be hashed.

    The chunks go to ``sink`` when one is given (the ingest's disk spool, see
    ``media.spool``), else to memory: either way an :class:`ArrivingBytes`
    tells them to another thread while the part is still arriving (see
    ``ingest.early_shrink``) and to the upload's checks. A sink that cannot
    be made at its first chunk leaves the part in memory; one that fails
    later raises its error, since the bytes written so far are gone.
    ``MAX_CONTENT_LENGTH`` bounds the part's size before any of it is read.
    """

    def __init__(self) -> None:
        self.arriving = ArrivingBytes()
        self.sha1 = hashlib.sha1(usedforsecurity=False)
        self.sha256 = hashlib.sha256()
        self.sink: ChunkSink | None = None
        self._file: io.BytesIO | None = None

    def write(self, chunk: bytes) -> int:
        if self.sink is None or not self._to_sink(chunk):
            self.arriving.feed(chunk)  # the decoding thread gets the chunk before the hashes
        self.sha1.update(chunk)
        self.sha256.update(chunk)
        return len(chunk)

    def _to_sink(self, chunk: bytes) -> bool:
        """Write ``chunk`` to the sink; ``False`` when the part is held in memory instead."""
        sink = self.sink
        assert sink is not None
        first = not self.arriving.on_disk
        sink.write(chunk)
        reader = sink.reader() if first and sink.written is not None else None
        if sink.written is None or (first and reader is None):
            self.sink = None
            if not first:  # the bytes before this chunk were only in the sink's file
                self.arriving.abandon()
                raise sink.error or OSError("the upload's spool was given up")
            return False
        if reader is not None:
            self.arriving.use_file(reader)
        self.arriving.fed_to_file(len(chunk))
        return True

    @property
    def on_disk(self) -> bool:
        """Whether the part's bytes are in the sink's file, not in memory."""
        return self.arriving.on_disk

    def getvalue(self) -> bytes:
        """The whole part, joined once and then shared."""
        return self.arriving.getvalue()

    def release(self) -> None:
        """Drop the file view once the bytes are held elsewhere (the Upload)."""
        self._file = None

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        # Werkzeug seeks to 0 when the part has ended: nothing more will arrive.
        self.arriving.complete()
        if self._file is None and offset == 0 and whence == io.SEEK_SET:
            return 0  # no whole copy of a part on disk just to be at its start
        return self._as_file().seek(offset, whence)

    def close(self) -> None:
        """Werkzeug closes the form's files when the request ends."""
        self._file = None

    def _as_file(self) -> io.BytesIO:
        if self._file is None:
            self._file = io.BytesIO(self.getvalue())  # shares the bytes until written to
        return self._file

    def __getattr__(self, name: str) -> Any:  # read, tell, close ... of the whole part
        return getattr(self._as_file(), name)


class _RawReads(io.RawIOBase):
    """A WSGI input stream (``read`` only) as the raw stream of a ``BufferedReader``.

    Gunicorn returns a read only once it holds every byte asked for. Reads of
    a whole buffer suit a body that is all there (loopback, a wired LAN), but
    over a booth's Wi-Fi a 1 MiB read waits for its last byte and the
    hashes, the spool and the early shrink get nothing meanwhile: the last
    megabyte of a photo was processed after its last byte arrived. So each
    read asks for what the previous one saw arrive in :data:`READ_WAIT`,
    between :data:`MIN_PARSE_READ` and the buffer, at most doubling at a time.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._step: int | None = None  # the whole buffer until a read has been timed

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = len(buffer) if self._step is None else min(len(buffer), self._step)
        started = time.monotonic()
        data = self._stream.read(want)
        took = time.monotonic() - started
        got = len(data)
        buffer[:got] = data
        if got:
            arrived_in_wait = got * READ_WAIT / took if took > 0 else float("inf")
            grown = 2 * (self._step or want)
            self._step = max(MIN_PARSE_READ, int(min(arrived_in_wait, grown, len(buffer))))
        return got


_MALFORMED_BODY = "Некорректное тело запроса: проверьте Content-Type, границу (boundary) и части формы"
_NAMELESS_PART = "Некорректное тело запроса: у части формы нет имени (name)"


class StrictRequest(Request):
    """Werkzeug silently turns a broken multipart body into an empty form, which
    would surface as a misleading "wrong password"; parse non-silently so the
    ingest can answer 400 ``bad_request``.
    """

    #: Given each file part (a :class:`HashingUpload`) as it starts arriving; set by
    #: whoever reads the upload (the ingest's Intake) before the form is parsed.
    on_file_part: Callable[[HashingUpload], None] | None = None
    #: File parts go to anonymous temporary files instead of memory (a ZIP batch of
    #: many photos is read member by member, never held whole).
    spill_files_to_disk: bool = False
    #: Given each text field ``(name, value)`` as soon as it has arrived, before the
    #: next part is read; may raise to refuse the request there and then.
    on_form_field: OnField | None = None

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if self.spill_files_to_disk:
            return tempfile.TemporaryFile("w+b")
        upload = HashingUpload()
        if self.on_file_part is not None:
            self.on_file_part(upload)
        return upload  # type: ignore[return-value]  # duck-typed file object

    def _get_stream_for_parsing(self) -> IO[bytes]:
        stream = super()._get_stream_for_parsing()
        if isinstance(stream, io.BytesIO):
            return stream
        # Werkzeug's parser reads 64 KiB at a time. Gunicorn serves each such
        # read out of its last recv() of up to 1 MiB by copying the rest of
        # that buffer twice, many times the part's own size in copies. Reading
        # through a 1 MiB buffer asks the server for whole buffers instead.
        return io.BufferedReader(_RawReads(stream), PARSE_BUFFER)

    def _load_form_data(self) -> None:
        # Non-silent parsing raises ValueError (no boundary, a broken part): a
        # client's error, to be answered by the JSON handlers, never a 500.
        try:
            super()._load_form_data()
        except ValueError as exc:
            raise ApiError("bad_request", _MALFORMED_BODY, extra={"field": "body"}) from exc
        except ApiError:
            # Refused mid-body (a wrong password, a body that stopped): the rest is never parsed.
            self.__dict__["form"] = self.__dict__["files"] = self.parameter_storage_class()
            raise
        stream = self.__dict__.get("stream")
        if isinstance(stream, io.BufferedReader):
            # The body is parsed: the 1 MiB read buffer would otherwise stay allocated
            # for as long as the request lives (a provider's wait, for an ingest).
            stream.close()
            self.__dict__["stream"] = io.BytesIO()
        if None in self.form or None in self.files:
            # RFC 7578 requires a name; Werkzeug keys such a part by None, which nothing downstream expects.
            self.__dict__["form"] = self.__dict__["files"] = self.parameter_storage_class()
            raise ApiError("bad_request", _NAMELESS_PART, extra={"field": "body"})

    def make_form_data_parser(self) -> FormDataParser:
        return FieldWatchingFormParser(
            stream_factory=self._get_file_stream,
            max_form_memory_size=self.max_form_memory_size,
            max_content_length=self.max_content_length,
            max_form_parts=self.max_form_parts,
            cls=self.parameter_storage_class,
            silent=False,
            on_field=self.on_form_field,
        )
