"""The success answer shared by ingest and the admin test-run."""

from __future__ import annotations

from flask import Response, request
from werkzeug.wsgi import wrap_file

from photochanger.ingest.outcome import IngestSuccess
from photochanger.links import public_base_url, result_url


def image_response(success: IngestSuccess) -> Response:
    """Bare image body with the headers DSLR Remote Pro and admins rely on."""
    body = wrap_file(request.environ, success.body)  # sendfile under gunicorn
    resp = Response(body, status=200, mimetype=success.mime, direct_passthrough=True)
    resp.headers["Content-Length"] = str(success.size)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Job-Id"] = success.job_id
    resp.headers["X-Result-Url"] = result_url(public_base_url(), success.job_id)
    if success.provider:
        resp.headers["X-Provider"] = success.provider
    if success.replayed:
        resp.headers["X-Idempotent-Replay"] = "true"
    return resp
