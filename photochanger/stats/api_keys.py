"""Integration API usage per key: requests counted by the key guard, tasks by their rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from photochanger.clock import iso_z
from photochanger.extensions import db
from photochanger.models import ApiKey, ApiTask, TaskStatus


def key_usage() -> list[dict[str, Any]]:
    """Every key with its request count, last use and its tasks by state (all time)."""
    tasks: dict[str | None, dict[str, int]] = {}
    counted = (
        select(ApiTask.key_id, ApiTask.status, func.count())
        .where(ApiTask.key_id.is_not(None))  # an admin's batch belongs to no key
        .group_by(ApiTask.key_id, ApiTask.status)
    )
    for key_id, status, count in db.session.execute(counted):
        state = "open" if status in TaskStatus.OPEN else status
        per_key = tasks.setdefault(key_id, {"open": 0, TaskStatus.DONE: 0, TaskStatus.FAILED: 0})
        per_key[state] = per_key.get(state, 0) + int(count)
    by_use = select(ApiKey).order_by(ApiKey.request_count.desc(), ApiKey.created_at)
    keys = db.session.execute(by_use).scalars()
    return [
        {
            "key_id": key.id,
            "name": key.name,
            "revoked": key.revoked_at is not None,
            "request_count": int(key.request_count or 0),
            "last_used_at": iso_z(key.last_used_at),
            "tasks": tasks.get(key.id, {"open": 0, TaskStatus.DONE: 0, TaskStatus.FAILED: 0}),
        }
        for key in keys
    ]
