"""UTC time: the one clock and the one wire format every answer and log line uses."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """Timezone-aware now in UTC (what every stored timestamp is)."""
    return dt.datetime.now(dt.UTC)


def iso_z(value: dt.datetime | None) -> str | None:
    """ISO 8601 with a ``Z`` suffix (``2026-12-04T11:54:51.123456Z``), or ``None`` for ``None``."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
