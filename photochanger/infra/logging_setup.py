"""Logging configuration: one JSON object per line on stderr."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

from flask import Flask

from photochanger.infra.request_log import RedactionFilter, RequestContextFilter

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record and its ``extra`` fields as a JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(app: Flask) -> None:
    """Send the ``photochanger`` loggers to stderr as JSON lines."""
    level = str(app.config.get("LOG_LEVEL") or "INFO").upper()
    root = logging.getLogger("photochanger")
    root.setLevel(level)
    if not any(getattr(h, "_photochanger", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        # Context first, then redaction: the request id is never scrubbed, secrets always are.
        handler.addFilter(RequestContextFilter())
        handler.addFilter(RedactionFilter())
        handler._photochanger = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    app.logger.setLevel(level)
