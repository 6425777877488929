"""Admin API for batches of photos: send one, list them with progress, one's progress, download results."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import select

from photochanger.auth.api_keys import Caller
from photochanger.auth.session import current_admin, require_admin
from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.infra.caching import no_store
from photochanger.integration import batch_form
from photochanger.integration.batches import batch_tasks, batch_view, owned_batch, recent_batches
from photochanger.integration.routes import results_response
from photochanger.links import path_for, public_base_url
from photochanger.models import ApiBatch, ApiKey

bp = Blueprint("batches_api", __name__, url_prefix="/api/batches")
bp.before_request(require_admin)

#: ``key_name`` of a batch an admin sent (it belongs to no key).
ADMIN_OWNER = "Администратор"


@bp.get("")
def list_batches() -> Response:
    """The newest 50 batches of every key and of admins, with their progress."""
    names = {key_id: name for key_id, name in db.session.execute(select(ApiKey.id, ApiKey.name))}
    base = public_base_url()
    body = [
        {
            **batch_view(batch, tasks, base, with_files=False),
            "key_name": names.get(batch.key_id) if batch.key_id is not None else ADMIN_OWNER,
            "created_by": batch.created_by,
            "results_url": path_for("batches_api.results", batch_id=batch.id),
        }
        for batch, tasks in recent_batches()
    ]
    return no_store(jsonify({"batches": body}))


@bp.post("")
def submit() -> tuple[Response, int]:
    """Queue the photos of a ZIP and/or of ``photos`` parts for any active slot, as the admin's batch."""
    caller = Caller.for_admin(current_admin())
    return batch_form.submit_batch(caller, ("batches_api.status", "batches_api.results"))


@bp.get("/<batch_id>")
def status(batch_id: str) -> Response:
    """A batch's progress and each photo's status, as its key sees it."""
    batch = _batch(batch_id)
    return no_store(jsonify(batch_view(batch, batch_tasks(batch.id), public_base_url())))


@bp.get("/<batch_id>/results.zip")
def results(batch_id: str) -> Response:
    """A batch's results so far with manifest.json, as for its key."""
    return results_response(_batch(batch_id).id)


def _batch(batch_id: str) -> ApiBatch:
    batch = owned_batch(batch_id, None)
    if batch is None:
        raise ApiError("not_found", "Пакет не найден")
    return batch
