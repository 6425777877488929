"""«Сброс статистики»: counters start again, the job history stays for audits.

A reset only records when counting starts — for every slot (``stats_reset_at``)
or for one (``stats_reset_at:<slot_id>``); no row is deleted, so an audit can
still read every job. A slot counts from the later of the two.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import or_, select

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.models import AppSetting
from photochanger.settings.store import save_setting

GLOBAL_KEY = "stats_reset_at"
_SLOT_PREFIX = GLOBAL_KEY + ":"


@dataclass(frozen=True)
class Reset:
    at: dt.datetime
    by: str | None


@dataclass(frozen=True)
class Resets:
    """Every reset on record: the global one and each slot's own."""

    everything: Reset | None = None
    slots: dict[str, Reset] = field(default_factory=dict)

    def of(self, slot_id: str | None) -> Reset | None:
        """Where ``slot_id``'s counters start (``None``: all slots, the global reset only)."""
        own = self.slots.get(slot_id) if slot_id else None
        candidates = [r for r in (self.everything, own) if r is not None]
        return max(candidates, key=lambda r: r.at, default=None)


def load_resets() -> Resets:
    """All resets in one statement."""
    rows = db.session.execute(
        select(AppSetting.key, AppSetting.value, AppSetting.updated_by).where(
            or_(AppSetting.key == GLOBAL_KEY, AppSetting.key.startswith(_SLOT_PREFIX))
        )
    ).all()
    everything, slots = None, {}
    for key, value, by in rows:
        reset = Reset(dt.datetime.fromisoformat(str(value)), by)
        if key == GLOBAL_KEY:
            everything = reset
        else:
            slots[key.removeprefix(_SLOT_PREFIX)] = reset
    return Resets(everything, slots)


def reset_counters(admin: str, slot_id: str | None = None) -> Reset:
    """Start counting from now, for one slot or for all (caller commits)."""
    now = utcnow()
    save_setting(_SLOT_PREFIX + slot_id if slot_id else GLOBAL_KEY, now.isoformat(), admin)
    return Reset(now, admin)
