"""Request ids, the ``http.request`` access line and log redaction.

Every request gets an id (the caller's ``X-Request-Id`` when it is sane, else
a new one), echoed in the answer and attached to every log line written while
the request runs. The redaction filter guarantees that photo bytes,
passwords, keys and the booth's personal form fields (``user_id``, ``profile``,
``name`` ...; stored in job metadata, never logged) do not reach the log,
whatever a call site passes.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from photochanger.infra.first_byte import ARRIVAL_KEY

REQUEST_ID_HEADER = "X-Request-Id"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
REDACTED = "[redacted]"

#: Extra keys whose values are secret or personal, whatever their content.
SECRET_KEYS = frozenset(
    {
        "password",
        "new_password",
        "password_hash",
        "api_key",
        "apikey",
        "key",
        "token",
        "access_token",
        "secret",
        "authorization",
        "cookie",
        "metadata",
        "metadata_json",
        "form",
        "fields",
        "body",
        "data",
        "photo",
        "file",
    }
)
#: JSON request fields whose values are scrubbed from log text (admin login, settings).
_SECRET_JSON_FIELDS = ("password", "new_password", "ingest_password", "api_key", "gemini_api_key")
_SECRET_NAME = re.compile(r"pass|token|secret|key", re.IGNORECASE)
#: Shorter request values are not scrubbed: replacing "1" everywhere would garble the log.
_MIN_SCRUB_LEN = 3
_MAX_STRING = 4000
_QUIET_PATHS = ("/healthz", "/metrics")

_access_log = logging.getLogger("photochanger.http")


# -- request hooks -----------------------------------------------------------------


def init_request_log(app: Flask) -> None:
    """Request ids in and out, and one ``http.request`` line per answered request."""
    app.before_request(_assign_request_id)
    app.after_request(_finish_request)


def _assign_request_id() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex


def _finish_request(response: Response) -> Response:
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = request_id
    arrival = request.environ.get(ARRIVAL_KEY)
    extra: dict[str, Any] = {
        "event": "http.request",
        "method": request.method,
        "path": request.path,  # never the query string: booth URLs may carry survey tokens
        "status": response.status_code,
        "duration_ms": int((time.monotonic() - arrival) * 1000) if arrival is not None else None,
        "bytes_in": request.content_length,
        "bytes_out": response.content_length,
    }
    slot_id = (request.view_args or {}).get("slot_id")
    if slot_id:
        extra["slot_id"] = str(slot_id)[:64]
    job_id = response.headers.get("X-Job-Id")
    if response.is_json and not response.is_streamed:
        body = response.get_json(silent=True)
        if isinstance(body, dict):
            job_id = job_id or body.get("job_id")
            if body.get("failure_reason"):
                extra["failure_reason"] = body["failure_reason"]
    if job_id:
        extra["job_id"] = job_id
    provider, outcome = g.get("log_provider"), g.get("log_outcome")
    if provider:
        extra["provider"] = provider
    extra["outcome"] = outcome or ("ok" if response.status_code < 400 else "rejected")
    level = logging.DEBUG if request.path in _QUIET_PATHS else logging.INFO
    _access_log.log(level, "http.request", extra=extra)
    return response


# -- logging filters ------------------------------------------------------------------


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` to records written during a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and not hasattr(record, "request_id"):
            request_id = g.get("request_id")
            if request_id:
                record.request_id = request_id
        return True


class RedactionFilter(logging.Filter):
    """Removes secrets, personal form values and raw bytes from a record.

    Runs on the handler, so every ``photochanger`` logger is covered. Besides
    the known secret keys, it scrubs the values the current request actually
    sent (form fields, query arguments, JSON passwords) from the message, the
    extra fields and the traceback text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        values = _request_values()
        message = record.getMessage()
        record.msg, record.args = _scrub_text(message, values), None
        for key, value in list(vars(record).items()):
            if key in _STANDARD or key.startswith("_"):
                continue
            setattr(record, key, _scrub(key, value, values))
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, None
            record.exc = _scrub_text(text, values)
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _request_values() -> list[str]:
    """Values the current request sent that must never appear in a log line."""
    if not has_request_context():
        return []
    found: list[str] = []
    form = request.__dict__.get("form")  # only when the view already parsed it: never parse here
    if form is not None:
        # A booth's every field is personal (DESIGN §3); elsewhere only secret-named fields.
        booth = (request.endpoint or "").startswith("ingest.")
        # A filter that raises turns any logged answer into the server's own HTML 500: keys are not trusted.
        found.extend(v for k, v in form.items(multi=True) if booth or _SECRET_NAME.search(str(k)))
    found.extend(v for _, v in request.args.items(multi=True))
    cached = request._cached_json[True]
    if isinstance(cached, dict):
        found.extend(str(cached[k]) for k in _SECRET_JSON_FIELDS if cached.get(k))
    auth = request.headers.get("Authorization", "")
    if auth:
        found.append(auth.split(" ", 1)[-1])
    return sorted(
        {v for v in found if isinstance(v, str) and len(v) >= _MIN_SCRUB_LEN}, key=len, reverse=True
    )


def _scrub_text(text: str, values: Iterable[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text[:_MAX_STRING]


def _scrub(key: str, value: Any, values: list[str]) -> Any:
    if key.lower() in SECRET_KEYS:
        return REDACTED
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        return _scrub_text(value, values)
    if isinstance(value, dict):
        return {k: _scrub(str(k), v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(key, v, values) for v in value]
    return value
