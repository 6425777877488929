"""Public downloads: results (TTL-checked) and short-lived provider media."""

from __future__ import annotations

from flask import Blueprint, Response

from photochanger.clock import utcnow
from photochanger.errors import ApiError
from photochanger.infra.lookup import by_url_id
from photochanger.media.images import EXT_BY_MIME
from photochanger.media.lifecycle import expire_job_result, expire_media
from photochanger.models import JobHistory, MediaKind, MediaObject
from photochanger.public.stored import download, stored_file
from photochanger.runtime import services

bp = Blueprint("public", __name__)


@bp.get("/public/results/<job_id>")
def download_result(job_id: str) -> Response:
    """The processed image as an attachment while it is within its TTL."""
    job = by_url_id(JobHistory, job_id)
    if job is None or not job.result_path:
        raise ApiError("result_not_found")
    store = services().store
    if job.result_expires_at is None or job.result_expires_at <= utcnow():
        expire_job_result(store, job)
        raise ApiError("result_expired")
    if not store.exists(job.result_path):
        raise ApiError("result_not_found")
    ext = EXT_BY_MIME.get(job.result_mime or "", "jpg")
    mime = job.result_mime or "application/octet-stream"
    return download(store, job.result_path, mime, f"photochanger-{job.job_id}.{ext}")


@bp.get("/public/provider-media/<media_id>")
def provider_media(media_id: str) -> Response:
    """An input published for a URL-fetching provider; 410 after the job's deadline."""
    media = by_url_id(MediaObject, media_id)
    if media is None or media.kind != MediaKind.PROVIDER_MEDIA:
        raise ApiError("not_found", "Файл не найден")
    store = services().store
    if media.cleaned_at is not None or media.expires_at is None or media.expires_at <= utcnow():
        expire_media(store, media)
        raise ApiError("media_expired")
    if not store.exists(media.path):
        raise ApiError("not_found", "Файл не найден")
    resp = stored_file(store, media.path, media.mime)
    resp.headers["Cache-Control"] = "no-store"
    return resp
