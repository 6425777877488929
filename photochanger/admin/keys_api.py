"""Admin API for integration API keys: create (shown once), list with usage, revoke."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from photochanger.auth.api_keys import CREATE_SCHEMA, DEFAULT_RATE, all_keys, create_key, key_view, revoke_key
from photochanger.auth.session import current_admin, require_admin
from photochanger.extensions import db
from photochanger.infra.caching import no_store
from photochanger.slots.catalog import slot_ids
from photochanger.validation import field_error, json_body

bp = Blueprint("keys_api", __name__, url_prefix="/api/keys")
bp.before_request(require_admin)


@bp.get("")
def list_keys() -> Response:
    """Every key with its scope and usage, never the key itself."""
    return no_store(jsonify({"keys": [key_view(row) for row in all_keys()]}))


@bp.post("")
def new_key() -> tuple[Response, int]:
    """A new key: the answer is the only time ``api_key`` and ``webhook_secret`` are shown."""
    body = json_body(CREATE_SCHEMA)
    scope = body.get("slot_ids")
    unknown = sorted(set(scope or ()) - set(slot_ids()))
    if unknown:
        raise field_error("slot_ids", f"нет такого слота: {', '.join(unknown)}")
    made = create_key(body["name"], scope, int(body.get("rate_per_minute") or DEFAULT_RATE), current_admin())
    db.session.commit()
    view = {**key_view(made.row), "api_key": made.api_key, "webhook_secret": made.webhook_secret}
    return no_store(jsonify(view)), 201


@bp.delete("/<key_id>")
def revoke(key_id: str) -> Response:
    """Revoke a key: every worker refuses it from the next request on."""
    row = revoke_key(key_id)
    db.session.commit()
    return no_store(jsonify(key_view(row)))
