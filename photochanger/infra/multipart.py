"""Werkzeug's multipart parser, telling each text field as soon as it has arrived.

Werkzeug hands back the form only once the whole body is parsed, so a
password sent before the photo could be checked only after the photo had
arrived. :class:`FieldWatchingParser` calls ``on_field(name, value)`` as each
text field ends, before the next part is read: the ingest refuses a wrong
password before a byte of the file (issue 20, row 1). The loop is Werkzeug
3.1's ``MultiPartParser.parse`` with that one call added; Werkzeug offers no
hook for it. It also yields to the worker's other requests after each chunk.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import IO, Any

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser, MultiPartParser
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

OnField = Callable[[str, str], None]

#: ``name`` and ``filename`` of a Content-Disposition as HTML forms write them: quoted, backslash literal.
_LITERAL_PARAM = re.compile(r'(?:^|;)\s*(name|filename)\s*=\s*"([^"]*)"', re.IGNORECASE)


def literal_names(part: Field | File) -> Field | File:
    """The part as its client meant it when its name holds a backslash.

    HTML forms and ``requests`` send a backslash in a name as is (RFC 7578 percent-encodes what
    must be, it escapes nothing); Werkzeug reads it as an escape, so ``name="a\\"`` became an
    unterminated name and its part nameless (a 400 for a request the contract allows).
    """
    params = {
        key.lower(): value
        for key, value in _LITERAL_PARAM.findall(part.headers.get("content-disposition", ""))
    }
    name = params.get("name")
    if name is None or "\\" not in name:
        return part
    filename = params.get("filename")
    if filename is not None:
        return File(name=name, filename=filename, headers=part.headers)
    return Field(name=name, headers=part.headers)


class FieldWatchingParser(MultiPartParser):
    """``MultiPartParser`` calling ``on_field`` for each text field as it ends."""

    def __init__(self, *args: Any, on_field: OnField | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_field = on_field

    def parse(
        self, stream: IO[bytes], boundary: bytes, content_length: int | None
    ) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
        current_part: Field | File | None = None
        field_size: int | None = None
        container: Any = None
        decoder = MultipartDecoder(
            boundary, max_form_memory_size=self.max_form_memory_size, max_parts=self.max_form_parts
        )
        fields: list[tuple[str, str]] = []
        files: list[tuple[str, FileStorage]] = []
        while True:
            # Let the worker's other requests run between chunks: a body already
            # received would otherwise be parsed in one go, holding the event loop.
            time.sleep(0)
            data = stream.read(self.buffer_size)
            decoder.receive_data(data or None)
            event = decoder.next_event()
            while not isinstance(event, (Epilogue, NeedData)):
                if isinstance(event, (Field, File)):
                    event = literal_names(event)
                if isinstance(event, Field):
                    current_part, field_size, container = event, 0, []
                elif isinstance(event, File):
                    current_part, field_size = event, None
                    container = self.start_file_streaming(event, content_length)
                elif isinstance(event, Data) and current_part is not None:
                    if self.max_form_memory_size is not None and field_size is not None:
                        field_size += len(event.data)
                        if field_size > self.max_form_memory_size:
                            raise RequestEntityTooLarge()
                    if isinstance(current_part, Field):
                        container.append(event.data)
                    else:
                        container.write(event.data)
                    if not event.more_data:
                        self._part_ended(current_part, container, fields, files)
                event = decoder.next_event()
            if not data:
                break
        return self.cls(fields), self.cls(files)

    def _part_ended(
        self,
        part: Field | File,
        container: Any,
        fields: list[tuple[str, str]],
        files: list[tuple[str, FileStorage]],
    ) -> None:
        if isinstance(part, Field):
            value = b"".join(container).decode(self.get_part_charset(part.headers), "replace")
            fields.append((part.name, value))
            if self.on_field is not None:
                self.on_field(part.name, value)
        else:
            container.seek(0)
            files.append((part.name, FileStorage(container, part.filename, part.name, headers=part.headers)))


class FieldWatchingFormParser(FormDataParser):
    """``FormDataParser`` whose multipart bodies go through :class:`FieldWatchingParser`."""

    def __init__(self, *args: Any, on_field: OnField | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_field = on_field

    def _parse_multipart(
        self, stream: IO[bytes], mimetype: str, content_length: int | None, options: dict[str, str]
    ) -> tuple[IO[bytes], MultiDict[str, Any], MultiDict[str, Any]]:
        parser = FieldWatchingParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
            on_field=self.on_field,
        )
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files
