"""Runtime settings stored in ``app_settings``; read fresh on every request.

Reading the small table each time (one SELECT) is what lets a change made by
an admin reach every gunicorn worker on the very next request, no restart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.models import AppSetting

#: key -> default value
DEFAULTS: dict[str, Any] = {
    "sync_response_seconds": 48,
    "result_ttl_hours": 72,
    "upload_limit_mb": 15,
    "concurrency_per_slot": 4,
    "concurrency_per_provider": 16,
    "ingest_hash_mode": "log_only",
    "max_photo_megapixels": 64,
    "keep_input_hours": 0,
    "keep_failed_input_hours": 24,
    "ingest_password_hash": None,
    "circuit_failure_threshold": 3,
    "circuit_cooldown_seconds": 30,
}

SYNC_MIN, SYNC_MAX = 10, 60


@dataclass(frozen=True)
class RuntimeSettings:
    sync_response_seconds: int
    result_ttl_hours: int
    upload_limit_mb: int
    concurrency_per_slot: int
    concurrency_per_provider: int
    ingest_hash_mode: str
    max_photo_megapixels: int
    #: hours a successful job's input photo is kept after its result is stored (0: deleted at once)
    keep_input_hours: int
    #: hours a failed job's input photo is kept, for the admin to see what failed
    keep_failed_input_hours: int
    ingest_password_hash: str | None
    #: consecutive network/5xx failures that open a provider's circuit
    circuit_failure_threshold: int
    #: seconds an open circuit refuses calls before a probe is let through
    circuit_cooldown_seconds: int
    ingest_password_rotated_at: dt.datetime | None
    ingest_password_rotated_by: str | None
    raw: dict[str, Any]

    @property
    def result_ttl(self) -> dt.timedelta:
        return dt.timedelta(hours=self.result_ttl_hours)


_ALL_SETTINGS = select(AppSetting.key, AppSetting.value, AppSetting.updated_at, AppSetting.updated_by)


def load_settings() -> RuntimeSettings:
    """All settings in one query, defaults filled in."""
    # Plain rows, not entities: every ingest runs this, and entity loading
    # (identity map, instance state) cost several times the query itself.
    rows = db.session.execute(_ALL_SETTINGS).all()
    values = dict(DEFAULTS)
    values.update({row.key: row.value for row in rows})
    pw_row = next((r for r in rows if r.key == "ingest_password_hash"), None)
    return RuntimeSettings(
        sync_response_seconds=min(SYNC_MAX, max(SYNC_MIN, int(values["sync_response_seconds"]))),
        result_ttl_hours=int(values["result_ttl_hours"]),
        upload_limit_mb=int(values["upload_limit_mb"]),
        concurrency_per_slot=int(values["concurrency_per_slot"]),
        concurrency_per_provider=int(values["concurrency_per_provider"]),
        ingest_hash_mode=str(values["ingest_hash_mode"]),
        max_photo_megapixels=int(values["max_photo_megapixels"]),
        keep_input_hours=int(values["keep_input_hours"]),
        keep_failed_input_hours=int(values["keep_failed_input_hours"]),
        ingest_password_hash=values["ingest_password_hash"],
        circuit_failure_threshold=int(values["circuit_failure_threshold"]),
        circuit_cooldown_seconds=int(values["circuit_cooldown_seconds"]),
        ingest_password_rotated_at=pw_row.updated_at if pw_row else None,
        ingest_password_rotated_by=pw_row.updated_by if pw_row else None,
        raw=values,
    )


def save_setting(key: str, value: Any, updated_by: str | None) -> None:
    """Insert or update one setting (caller commits)."""
    row = db.session.get(AppSetting, key)
    if row is None:
        db.session.add(AppSetting(key=key, value=value, updated_by=updated_by, updated_at=utcnow()))
    else:
        row.value = value
        row.version += 1
        row.updated_at = utcnow()
        row.updated_by = updated_by
