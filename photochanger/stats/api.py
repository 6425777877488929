"""Admin statistics API: ``GET /api/stats/overview``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from photochanger.auth.session import require_admin
from photochanger.stats.overview import DEFAULT_WINDOW_MINUTES, MAX_WINDOW_MINUTES, overview
from photochanger.validation import field_error

bp = Blueprint("stats_api", __name__, url_prefix="/api/stats")
bp.before_request(require_admin)


@bp.get("/overview")
def stats_overview() -> Response:
    """Global counters and one row per slot for the last ``window_minutes``."""
    raw = request.args.get("window_minutes", str(DEFAULT_WINDOW_MINUTES))
    try:
        window = int(raw)
    except ValueError:
        raise field_error("window_minutes", "ожидается целое число минут") from None
    if not 1 <= window <= MAX_WINDOW_MINUTES:
        raise field_error("window_minutes", f"допустимо от 1 до {MAX_WINDOW_MINUTES} минут")
    resp = jsonify(overview(window))
    resp.headers["Cache-Control"] = "no-store"
    return resp
