"""Stored files answered to admins (inputs, temporary and template media)."""

from __future__ import annotations

from flask import Response

from photochanger.errors import ApiError
from photochanger.models import MediaObject
from photochanger.runtime import services


def media_file(media: MediaObject, cache_control: str, missing: str) -> Response:
    """The file behind ``media``; 404 ``not_found`` with ``missing`` when it is gone from disk."""
    try:
        data = services().store.read(media.path)
    except OSError:
        raise ApiError("not_found", missing) from None
    resp = Response(data, mimetype=media.mime)
    resp.headers["Cache-Control"] = cache_control
    return resp
