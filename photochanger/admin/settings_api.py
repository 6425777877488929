"""Admin API for the global settings: deadline, TTL, limits, ingest password, provider keys."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from photochanger.auth.session import current_admin, require_admin
from photochanger.extensions import db
from photochanger.runtime import services
from photochanger.settings.edit import settings_view, update_settings
from photochanger.settings.store import load_settings
from photochanger.validation import json_body

log = logging.getLogger("photochanger.settings")

bp = Blueprint("settings_api", __name__, url_prefix="/api")
bp.before_request(require_admin)


@bp.get("/settings")
def get_settings() -> Response:
    """Current values; provider keys only as ``{"configured", "updated_at"}``."""
    resp = jsonify(settings_view(load_settings(), services().drivers))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.put("/settings")
def put_settings() -> Response:
    """Change any subset of the settings; the next request of every worker sees it."""
    drivers = services().drivers
    admin = current_admin()
    changed = update_settings(json_body({"type": "object"}), drivers, admin)
    db.session.commit()
    # Names only: never a password or a key in the log.
    log.info("settings.updated", extra={"event": "settings.updated", "username": admin, "changed": changed})
    resp = jsonify(settings_view(load_settings(), drivers))
    resp.headers["Cache-Control"] = "no-store"
    return resp
