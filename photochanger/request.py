"""The request class: strict multipart parsing and uploads hashed while they arrive."""

from __future__ import annotations

import hashlib
import io
from typing import IO, Any

from flask import Request
from werkzeug.formparser import FormDataParser


class HashingUpload:
    """The container Werkzeug writes a file part into: SHA-1 and SHA-256 are
    updated chunk by chunk as the part streams in, so the photo is read from
    the socket once, hashed once and never read back just to be hashed.

    The part is kept in memory (not spooled to a temporary file): its bytes go
    to the provider anyway, and the only disk write is the stored input.
    ``MAX_CONTENT_LENGTH`` bounds its size before it is ever buffered.
    """

    def __init__(self) -> None:
        self._buf = io.BytesIO()
        self.sha1 = hashlib.sha1(usedforsecurity=False)
        self.sha256 = hashlib.sha256()

    def write(self, chunk: bytes) -> int:
        self.sha1.update(chunk)
        self.sha256.update(chunk)
        return self._buf.write(chunk)

    def getvalue(self) -> bytes:
        """The whole part; shares the buffer instead of copying it."""
        return self._buf.getvalue()

    def release(self) -> None:
        """Drop the buffer once its bytes are held elsewhere (the Upload)."""
        self._buf = io.BytesIO()

    def __getattr__(self, name: str) -> Any:  # read, seek, tell, close ... of the buffer
        return getattr(self._buf, name)


class StrictRequest(Request):
    """Werkzeug silently turns a broken multipart body into an empty form, which
    would surface as a misleading "wrong password"; parse non-silently so the
    ingest can answer 400 ``bad_request``.
    """

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return HashingUpload()  # type: ignore[return-value]  # duck-typed file object

    def make_form_data_parser(self) -> FormDataParser:
        return self.form_data_parser_class(
            stream_factory=self._get_file_stream,
            max_form_memory_size=self.max_form_memory_size,
            max_content_length=self.max_content_length,
            max_form_parts=self.max_form_parts,
            cls=self.parameter_storage_class,
            silent=False,
        )
