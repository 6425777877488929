"""Admin API for the integration API's ZIP batches: list with progress, download results."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import select

from photochanger.auth.session import require_admin
from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.infra.caching import no_store
from photochanger.integration.batches import batch_view, owned_batch, recent_batches
from photochanger.integration.routes import results_response
from photochanger.links import path_for, public_base_url
from photochanger.models import ApiKey

bp = Blueprint("batches_api", __name__, url_prefix="/api/batches")
bp.before_request(require_admin)


@bp.get("")
def list_batches() -> Response:
    """The newest 50 batches of every key, with their progress."""
    names = {key_id: name for key_id, name in db.session.execute(select(ApiKey.id, ApiKey.name))}
    base = public_base_url()
    body = [
        {
            **batch_view(batch, tasks, base, with_files=False),
            "key_name": names.get(batch.key_id),
            "results_url": path_for("batches_api.results", batch_id=batch.id),
        }
        for batch, tasks in recent_batches()
    ]
    return no_store(jsonify({"batches": body}))


@bp.get("/<batch_id>/results.zip")
def results(batch_id: str) -> Response:
    """A batch's results so far with manifest.json, as for its key."""
    batch = owned_batch(batch_id, None)
    if batch is None:
        raise ApiError("not_found", "Пакет не найден")
    return results_response(batch.id)
