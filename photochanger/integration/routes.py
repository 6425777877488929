"""The integration API under ``/api/v1``, authenticated by ``X-API-Key`` (docs/integration-api.md)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from photochanger.auth.api_keys import current_caller, require_api_key

bp = Blueprint("integration", __name__, url_prefix="/api/v1")
bp.before_request(require_api_key)


def no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/key")
def whoami() -> Response:
    """The calling key's name and the slots it may use (a cheap check that a key works)."""
    caller = current_caller()
    slots = list(caller.slot_ids) if caller.slot_ids is not None else None
    return no_store(jsonify({"key_id": caller.key_id, "name": caller.name, "slot_ids": slots}))
