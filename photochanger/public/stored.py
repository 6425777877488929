"""Stored files as answers, whichever backend holds them."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from flask import Response, current_app, redirect, request, send_file
from werkzeug.wsgi import wrap_file

from photochanger.media.storage import MediaStore

#: The internal nginx location that serves MEDIA_ROOT (nginx/photochanger.conf).
X_ACCEL_PREFIX = "/_protected_media/"
#: The internal nginx location that fetches a presigned S3 URL (nginx/photochanger.conf).
X_ACCEL_S3_PREFIX = "/_s3_media/"


def stored_file(store: MediaStore, rel: str, mimetype: str, **send: object) -> Response:
    """The file inline: from this host's disk by ``sendfile``, else streamed from the store."""
    path = store.local_path(rel)
    if path is not None:
        return send_file(path, mimetype=mimetype, max_age=0, **send)  # type: ignore[arg-type]
    body, size = store.open(rel)
    resp = Response(wrap_file(request.environ, body), mimetype=mimetype, direct_passthrough=True)
    resp.headers["Content-Length"] = str(size)
    return resp


def download(store: MediaStore, rel: str, mimetype: str, download_name: str) -> Response:
    """A result as an attachment, sent by nginx or the bucket when they are configured to."""
    url = store.presigned_url(rel, download_name, mimetype)
    resp: Response
    if url is not None and current_app.config.get("S3_DOWNLOADS") == "accel":
        # nginx fetches the presigned URL itself and streams the object to the guest.
        parts = urlsplit(url)
        target = f"{X_ACCEL_S3_PREFIX}{parts.scheme}/{parts.netloc}{parts.path}?{parts.query}"
        resp = _accel(target, mimetype, download_name)
    elif url is not None:
        resp = redirect(url, 302, Response=Response)  # type: ignore[assignment]
    elif current_app.config.get("USE_X_ACCEL_REDIRECT"):
        # nginx streams the file from disk (internal location /_protected_media/ aliases MEDIA_ROOT).
        resp = _accel(X_ACCEL_PREFIX + quote(rel), mimetype, download_name)
    else:
        resp = send_file(
            store.local_path(rel) or "",
            mimetype=mimetype,
            as_attachment=True,
            download_name=download_name,
            conditional=True,
            max_age=0,
        )
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _accel(target: str, mimetype: str, download_name: str) -> Response:
    """An empty answer nginx replaces by ``target``: no worker holds the download."""
    resp = Response(b"", mimetype=mimetype)
    resp.headers["X-Accel-Redirect"] = target
    resp.headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
    return resp
