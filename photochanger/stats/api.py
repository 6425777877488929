"""Admin statistics API: the overview, the provider table and the counters' reset."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, jsonify, request

from photochanger.auth.session import current_admin, require_admin
from photochanger.clock import iso_z, utcnow
from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.infra.caching import no_store
from photochanger.models import Slot
from photochanger.runtime import services
from photochanger.stats.api_keys import key_usage
from photochanger.stats.overview import DEFAULT_WINDOW_MINUTES, MAX_WINDOW_MINUTES, overview
from photochanger.stats.providers import provider_stats
from photochanger.stats.reset import load_resets, reset_counters
from photochanger.validation import query_int

bp = Blueprint("stats_api", __name__, url_prefix="/api/stats")
bp.before_request(require_admin)


@bp.get("/overview")
def stats_overview() -> Response:
    """Global counters and one row per slot (or one slot's) for the last ``window_minutes``.

    ``circuits`` tells each networked provider's circuit (the dashboard warns of an open one).
    """
    body = overview(_window(), slot_id=_slot_filter())
    body["circuits"] = services().circuit_views()
    return no_store(jsonify(body))


@bp.get("/providers")
def stats_providers() -> Response:
    """Each provider's success rate and latency p50/p95 over the window, from the last reset on."""
    window = _window()
    slot_id = _slot_filter()
    since = utcnow() - dt.timedelta(minutes=window)
    reset = load_resets().of(slot_id)
    if reset is not None:
        since = max(since, reset.at)
    body = {"window_minutes": window, "slot_id": slot_id, "providers": provider_stats(since, slot_id)}
    return no_store(jsonify(body))


@bp.get("/api-keys")
def stats_api_keys() -> Response:
    """Integration API usage: each key's requests, last use and tasks by state."""
    return no_store(jsonify({"keys": key_usage()}))


@bp.post("/reset")
def stats_reset() -> Response:
    """Start the counters again, of every slot or of ``?slot_id=``; every job stays in the history."""
    slot_id = _slot_filter()
    reset = reset_counters(current_admin(), slot_id)
    db.session.commit()
    body = {"status": "ok", "slot_id": slot_id, "counting_since": iso_z(reset.at), "reset_by": reset.by}
    return no_store(jsonify(body))


def _window() -> int:
    return query_int("window_minutes", DEFAULT_WINDOW_MINUTES, 1, MAX_WINDOW_MINUTES, "минут")


def _slot_filter() -> str | None:
    slot_id = request.args.get("slot_id") or None
    if slot_id is not None and db.session.get(Slot, slot_id) is None:
        raise ApiError("slot_not_found")
    return slot_id
