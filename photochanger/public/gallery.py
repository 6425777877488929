"""Guest-facing pages: slot galleries, the shared all-slots gallery, result previews, the QR result page."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, abort, render_template, request

from photochanger.auth.session import signed_in_admin
from photochanger.clock import utcnow
from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.infra.lookup import by_url_id
from photochanger.jobs.shown import gallery_query
from photochanger.links import public_base_url, result_page_url
from photochanger.media import qr
from photochanger.media.lifecycle import expire_job_result
from photochanger.media.previews import ensure_preview
from photochanger.models import GalleryShare, JobHistory, Slot
from photochanger.public.stored import stored_file
from photochanger.runtime import services
from photochanger.slots.downloads import all_slot_ids, zip_response
from photochanger.slots.shares import all_galleries, share_by_token

bp = Blueprint("public_gallery", __name__)


def _live_job(job_id: str) -> tuple[JobHistory | None, bool]:
    """The job with a stored result and whether that result has expired."""
    job = by_url_id(JobHistory, job_id)
    if job is None or not job.result_path:
        return None, False
    if job.result_expires_at is None or job.result_expires_at <= utcnow():
        expire_job_result(services().store, job)
        return job, True
    if not services().store.exists(job.result_path):
        return None, False
    return job, False


def _gallery_slot(slot_id: str) -> Slot:
    """The slot whose current share token came with the request; else the request ends with a 404 page.

    A signed-in admin (bearer token or session cookie) needs no token: the admin
    can see what guests see, whichever link they were given.
    """
    slot = by_url_id(Slot, slot_id) if len(slot_id) <= 32 else None
    if slot is None:
        abort(_no_gallery())
    token = request.args.get("token", "")
    # compare bytes: compare_digest raises TypeError on non-ASCII str (any URL can carry one)
    if token and secrets.compare_digest(token.encode(), (slot.gallery_token or "").encode()):
        return slot
    if signed_in_admin(["headers", "cookies"]) is None:
        abort(_no_gallery())
    return slot


def _live_share(token: str) -> GalleryShare:
    """The share link behind ``token``; else the request ends with a 404 (unknown) or 410 (ended) page."""
    share, ended = share_by_token(token)
    if share is None:
        abort(_no_gallery())
    if ended:
        abort(_page("public/message.html", 410, title="Ссылка больше не действует", text=_SHARE_ENDED))
    return share


@bp.get("/public/slots/<slot_id>")
def slot_gallery(slot_id: str) -> Any:
    """The slot's last live results; 404 without the slot's current share token."""
    slot = _gallery_slot(slot_id)
    jobs = db.session.execute(gallery_query(slot.id, utcnow())).scalars().all()
    html = render_template("public/gallery.html", slot=slot, jobs=jobs, token=slot.gallery_token)
    return _token_page(html)


@bp.get("/public/slots/<slot_id>/photos.zip")
def slot_gallery_zip(slot_id: str) -> Any:
    """Every live result of the slot as one ZIP («Скачать все»), with the gallery's token."""
    slot = _gallery_slot(slot_id)
    return zip_response(services().store, [slot.id], f"{slot.id}.zip")


@bp.get("/public/galleries/<token>/photos.zip")
def shared_galleries_zip(token: str) -> Any:
    """Every live result of every slot as one ZIP, while the share link is valid."""
    _live_share(token)
    return zip_response(services().store, all_slot_ids(), "photos.zip")


@bp.get("/public/galleries/<token>")
def shared_galleries(token: str) -> Any:
    """All slots' galleries behind an admin's time-limited share link."""
    share = _live_share(token)
    return _token_page(render_template("public/galleries.html", share=share, galleries=all_galleries()))


@bp.get("/public/results/<job_id>/preview")
def result_preview(job_id: str) -> Response:
    """A small WEBP of a live result, built on first request when missing."""
    job, expired = _live_job(job_id)
    if expired:
        raise ApiError("result_expired")
    if job is None or job.result_path is None:
        raise ApiError("result_not_found")
    rel = ensure_preview(services().store, job.slot_id, job.job_id, job.result_path)
    if rel is None:
        raise ApiError("result_not_found")
    resp = stored_file(services().store, rel, "image/webp", conditional=True)
    resp.headers["Cache-Control"] = "private, max-age=300"
    return resp


@bp.get("/public/results/<job_id>/view")
def result_view(job_id: str) -> Any:
    """A phone-friendly page for a QR code: the picture and a download button."""
    job, expired = _live_job(job_id)
    if expired:
        return _page("public/message.html", 410, title="Срок хранения истёк", text=_EXPIRED)
    if job is None:
        return _page("public/message.html", 404, title="Фото не найдено", text=_NOT_FOUND)
    # The same code the print carries, for passing the photo on from the phone.
    share_qr = qr.svg(result_page_url(public_base_url(), job.job_id))
    resp = Response(render_template("public/result.html", job=job, share_qr=share_qr))
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


_GALLERY_404 = "Ссылка на галерею неверна или устарела. Попросите у администратора новую ссылку."
_SHARE_ENDED = "Срок действия ссылки на галерею закончился или администратор её отозвал."
_EXPIRED = "Фотография больше недоступна: срок её хранения закончился."
_NOT_FOUND = "Такой фотографии нет. Проверьте ссылку или отсканируйте QR-код ещё раз."


def _no_gallery() -> Response:
    return _page("public/message.html", 404, title="Галерея не найдена", text=_GALLERY_404)


def _token_page(html: str) -> Response:
    """A page opened by a secret token in its URL: never cached, and the token not leaked to other sites."""
    resp = Response(html)
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _page(template: str, status: int, **context: Any) -> Response:
    resp = Response(render_template(template, status=status, **context), status=status)
    resp.headers["Cache-Control"] = "no-store"
    return resp
