"""Time-limited public links to the galleries of all slots («Поделиться галереей»).

A share carries its own random token and an expiry the admin chooses; revoking
it ends the link at once. Guests see the same results as in the slots' own
galleries: live booth results, admin test runs left out.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

from sqlalchemy import select

from photochanger.clock import iso_z, utcnow
from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.jobs.shown import gallery_query
from photochanger.models import GalleryShare, JobHistory, JobStatus, Slot

#: The longest a share may live: the longest result retention an admin can set.
MAX_HOURS = 720
CREATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["expires_in_hours"],
    "properties": {
        "expires_in_hours": {"type": "integer", "minimum": 1, "maximum": MAX_HOURS},
        "label": {"type": ["string", "null"], "maxLength": 100},
    },
}


def create_share(hours: int, label: str | None, admin: str) -> GalleryShare:
    """A new share valid for ``hours`` (caller commits)."""
    now = utcnow()
    share = GalleryShare(
        id=uuid.uuid4().hex,
        token=secrets.token_urlsafe(24),
        label=(label or "").strip() or None,
        created_at=now,
        created_by=admin,
        expires_at=now + dt.timedelta(hours=hours),
    )
    db.session.add(share)
    return share


def active_shares() -> list[GalleryShare]:
    """Shares that still open, newest first."""
    query = (
        select(GalleryShare)
        .where(GalleryShare.revoked_at.is_(None), GalleryShare.expires_at > utcnow())
        .order_by(GalleryShare.created_at.desc())
    )
    return list(db.session.execute(query).scalars())


def revoke_share(share_id: str) -> None:
    """End a share at once (caller commits); 404 for an unknown one."""
    share = db.session.get(GalleryShare, share_id) if len(share_id) <= 32 else None
    if share is None:
        raise ApiError("not_found", "Ссылка не найдена")
    share.revoked_at = share.revoked_at or utcnow()


def share_by_token(token: str) -> tuple[GalleryShare | None, bool]:
    """The share behind ``token`` and whether it has ended (expired or revoked)."""
    if not token or len(token) > 64:
        return None, False
    share = db.session.execute(select(GalleryShare).where(GalleryShare.token == token)).scalar_one_or_none()
    if share is None:
        return None, False
    return share, share.revoked_at is not None or share.expires_at <= utcnow()


def all_galleries(*, with_hidden: bool = False) -> list[tuple[Slot, list[JobHistory]]]:
    """Each slot with its gallery's results, slots without results left out.

    ``with_hidden`` keeps the results an admin hid (the admin's own view).
    """
    now = utcnow()
    out = []
    for slot in db.session.execute(select(Slot).order_by(Slot.id)).scalars():
        jobs = list(db.session.execute(gallery_query(slot.id, now, with_hidden=with_hidden)).scalars())
        if jobs:
            out.append((slot, jobs))
    return out


MARK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {"hidden": {"type": "boolean"}, "pinned": {"type": "boolean"}},
}


def mark_result(slot_id: str, job_id: str, hidden: bool | None, pinned: bool | None) -> JobHistory:
    """Hide a result from the public galleries and ZIPs, or pin it first (caller commits)."""
    job = db.session.get(JobHistory, job_id) if len(job_id) <= 32 else None
    if job is None or job.slot_id != slot_id or job.status != JobStatus.DONE or not job.result_path:
        raise ApiError("result_not_found")
    now = utcnow()
    if hidden is not None:
        job.hidden_at = (job.hidden_at or now) if hidden else None
    if pinned is not None:
        job.pinned_at = (job.pinned_at or now) if pinned else None
    return job


def share_view(share: GalleryShare, url: str) -> dict[str, Any]:
    return {
        "id": share.id,
        "token": share.token,
        "label": share.label,
        "url": url,
        "created_at": iso_z(share.created_at),
        "created_by": share.created_by,
        "expires_at": iso_z(share.expires_at),
    }
