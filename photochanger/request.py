"""The request class: malformed multipart bodies raise instead of looking empty."""

from __future__ import annotations

from flask import Request
from werkzeug.formparser import FormDataParser


class StrictRequest(Request):
    """Werkzeug silently turns a broken multipart body into an empty form, which
    would surface as a misleading "wrong password"; parse non-silently so the
    ingest can answer 400 ``bad_request``.
    """

    def make_form_data_parser(self) -> FormDataParser:
        return self.form_data_parser_class(
            stream_factory=self._get_file_stream,
            max_form_memory_size=self.max_form_memory_size,
            max_content_length=self.max_content_length,
            max_form_parts=self.max_form_parts,
            cls=self.parameter_storage_class,
            silent=False,
        )
