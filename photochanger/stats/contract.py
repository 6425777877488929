"""``GET /api/openapi.yaml``: the HTTP contract the server implements."""

from __future__ import annotations

import os

from flask import Blueprint, Response

from photochanger.config import PROJECT_ROOT
from photochanger.errors import ApiError

bp = Blueprint("contract", __name__)

SPEC_PATH = os.path.join(PROJECT_ROOT, "spec", "contracts", "openapi.yaml")


@bp.get("/api/openapi.yaml")
def openapi_yaml() -> Response:
    """The OpenAPI document from ``spec/contracts`` (the single source of truth)."""
    try:
        with open(SPEC_PATH, "rb") as fh:
            body = fh.read()
    except OSError as exc:
        raise ApiError("not_found", "Описание API не найдено") from exc
    resp = Response(body, mimetype="application/yaml")
    resp.headers["Cache-Control"] = "no-cache"
    return resp
