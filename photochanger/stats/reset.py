"""«Сброс статистики»: the counters start again, the job history stays for audits.

A reset only records when counting starts (the ``stats_reset_at`` setting);
no row is deleted, so an audit can still read every job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.models import AppSetting
from photochanger.settings.store import save_setting

SETTING = "stats_reset_at"


@dataclass(frozen=True)
class Reset:
    at: dt.datetime
    by: str | None


def last_reset() -> Reset | None:
    """When the counters were last reset, and by whom; ``None`` if never."""
    row = db.session.get(AppSetting, SETTING)
    if row is None or not row.value:
        return None
    return Reset(dt.datetime.fromisoformat(str(row.value)), row.updated_by)


def reset_counters(admin: str) -> Reset:
    """Start counting from now (caller commits)."""
    now = utcnow()
    save_setting(SETTING, now.isoformat(), admin)
    return Reset(now, admin)
