"""The all-slots gallery for admins and its time-limited public share links."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from photochanger.auth.session import current_admin, require_admin
from photochanger.clock import iso_z
from photochanger.extensions import db
from photochanger.links import path_for, public_base_url, public_url
from photochanger.runtime import services
from photochanger.slots.downloads import all_slot_ids, zip_response
from photochanger.slots.edit import get_slot
from photochanger.slots.shares import (
    CREATE_SCHEMA,
    MARK_SCHEMA,
    active_shares,
    all_galleries,
    create_share,
    mark_result,
    revoke_share,
    share_view,
)
from photochanger.validation import json_body

bp = Blueprint("gallery_api", __name__, url_prefix="/api/gallery")
bp.before_request(require_admin)


@bp.get("")
def galleries() -> Response:
    """Every slot's gallery results as guests see them, plus those hidden from guests (marked)."""
    base = public_base_url()
    slots = [
        {
            "slot_id": slot.id,
            "display_name": slot.display_name or slot.id,
            "results": [
                {
                    "job_id": job.job_id,
                    "finished_at": iso_z(job.finished_at or job.started_at),
                    "hidden": job.hidden_at is not None,
                    "pinned": job.pinned_at is not None,
                    "preview_url": path_for("slots_api.result_preview", slot_id=slot.id, job_id=job.job_id),
                    "result_url": public_url(base, "public.download_result", job_id=job.job_id),
                }
                for job in jobs
            ],
        }
        for slot, jobs in all_galleries(with_hidden=True)
    ]
    return _no_store(jsonify({"slots": slots}))


@bp.patch("/slots/<slot_id>/results/<job_id>")
def mark(slot_id: str, job_id: str) -> Response:
    """Hide a result from the public galleries and ZIPs, or pin it to the top of its gallery."""
    body = json_body(MARK_SCHEMA)
    job = mark_result(slot_id, job_id, body.get("hidden"), body.get("pinned"))
    db.session.commit()
    return _no_store(
        jsonify(
            {"job_id": job.job_id, "hidden": job.hidden_at is not None, "pinned": job.pinned_at is not None}
        )
    )


@bp.get("/photos.zip")
def all_photos_zip() -> Response:
    """Every slot's live guest results as one streamed ZIP."""
    return zip_response(services().store, all_slot_ids(), "photos.zip")


@bp.get("/slots/<slot_id>/photos.zip")
def slot_photos_zip(slot_id: str) -> Response:
    """One slot's live guest results as one streamed ZIP («Скачать все» on the slot page)."""
    slot = get_slot(slot_id)
    return zip_response(services().store, [slot.id], f"{slot.id}.zip")


@bp.get("/shares")
def shares() -> Response:
    """Share links that still open, newest first."""
    base = public_base_url()
    body = [share_view(share, _share_url(base, share.token)) for share in active_shares()]
    return _no_store(jsonify({"shares": body}))


@bp.post("/shares")
def new_share() -> tuple[Response, int]:
    """A new public link to all galleries, valid for ``expires_in_hours``."""
    body = json_body(CREATE_SCHEMA)
    share = create_share(body["expires_in_hours"], body.get("label"), current_admin())
    db.session.commit()
    return _no_store(jsonify(share_view(share, _share_url(public_base_url(), share.token)))), 201


@bp.delete("/shares/<share_id>")
def end_share(share_id: str) -> Response:
    """Revoke a share link: it stops opening at once."""
    revoke_share(share_id)
    db.session.commit()
    return _no_store(jsonify({"status": "ok"}))


def _share_url(base: str, token: str) -> str:
    return public_url(base, "public_gallery.shared_galleries", token=token)


def _no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp
