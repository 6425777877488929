"""A slot's journal for admins: ``GET /api/slots/<id>/jobs`` and a job's input photo."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from photochanger.admin.files import media_file
from photochanger.auth.session import require_admin
from photochanger.errors import ApiError
from photochanger.jobs.journal import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    STATUSES,
    Cursor,
    input_row,
    journal_page,
)
from photochanger.links import path_for, public_base_url, public_url
from photochanger.slots.edit import get_slot
from photochanger.validation import field_error, query_int

bp = Blueprint("journal_api", __name__, url_prefix="/api")
bp.before_request(require_admin)


@bp.get("/slots/<slot_id>/jobs")
def slot_jobs(slot_id: str) -> Response:
    """The slot's jobs, newest first, a page at a time (``cursor`` from the previous page)."""
    slot = get_slot(slot_id)
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise field_error("status", "недопустимое значение; допустимы: " + ", ".join(STATUSES))
    limit = query_int("limit", PAGE_SIZE, 1, MAX_PAGE_SIZE)
    after = None
    if raw := request.args.get("cursor"):
        try:
            after = Cursor.decode(raw)
        except ValueError:
            raise field_error(
                "cursor", "недопустимый курсор: возьмите next_cursor из прошлой страницы"
            ) from None
    rows, next_cursor = journal_page(slot.id, status, after, limit)
    base = public_base_url()
    for row in rows:
        job_id = row["job_id"]
        row["result_url"] = (
            public_url(base, "public.download_result", job_id=job_id) if row["result_live"] else None
        )
        row["input_url"] = (
            path_for("journal_api.job_input", slot_id=slot.id, job_id=job_id) if row["input_kept"] else None
        )
    body = {"slot_id": slot.id, "jobs": rows, "next_cursor": next_cursor.encode() if next_cursor else None}
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/slots/<slot_id>/jobs/<job_id>/input")
def job_input(slot_id: str, job_id: str) -> Response:
    """The photo a booth sent for this job, while it is still kept; 410 once it was removed."""
    missing = "Исходное фото не найдено или уже удалено"
    media = input_row(slot_id, job_id) if len(job_id) <= 32 else None
    if media is None:
        raise ApiError("not_found", missing)
    if media.cleaned_at is not None:
        # The job is real: say the photo is gone (the retention setting), not that it never was.
        raise ApiError("media_expired", "Исходное фото удалено: срок его хранения истёк")
    return media_file(media, "private, no-store", missing)
