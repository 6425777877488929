"""Jinja pages of the admin UI under ``/admin``.

The pages are thin shells: they render the layout and static facts such as
ingest links; the data itself (including the provider schemas that slot forms
are built from) is loaded and saved by the browser through the JSON API under
``/api`` with the HttpOnly JWT cookie and the CSRF header.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError

from photochanger.auth.api_keys import DEFAULT_RATE, MAX_RATE
from photochanger.errors import ApiError
from photochanger.links import public_base_url, public_url
from photochanger.runtime import services
from photochanger.settings.edit import EDITABLE
from photochanger.settings.store import SYNC_MAX, SYNC_MIN
from photochanger.slots.catalog import slot_ids
from photochanger.slots.shares import MAX_HOURS

bp = Blueprint("admin_pages", __name__, url_prefix="/admin")
#: The site root: a person who types the server's address lands on the admin pages.
root_bp = Blueprint("root", __name__)

F = TypeVar("F", bound=Callable[..., Any])


def current_admin() -> str | None:
    """The admin named by a valid JWT cookie, or ``None``."""
    try:
        verify_jwt_in_request(optional=True, locations=["cookies"])
        identity = get_jwt_identity()
    except (JWTExtendedException, PyJWTError, ApiError, KeyError, RuntimeError):
        # ApiError: the credentials file is broken; the login form shows the API's message.
        return None
    return str(identity) if identity else None


def login_required(view: F) -> F:
    """Redirect to the login page unless a valid admin cookie came with the request."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        admin = current_admin()
        if admin is None:
            return redirect(url_for("admin_pages.login", next=request.full_path.rstrip("?")))
        return view(*args, admin=admin, **kwargs)

    return cast(F, wrapper)


def _ingest_url(slot_id: str) -> str:
    return public_url(public_base_url(), "ingest.ingest", slot_id=slot_id)


def _page_context(active: str, admin: str) -> dict[str, Any]:
    return {"active": active, "admin": admin}


@bp.app_context_processor
def _csrf_names() -> dict[str, Any]:
    """Cookie and header names the page scripts use for the CSRF double submit."""
    cfg = current_app.config
    return {
        "csrf_cookie_name": cfg.get("JWT_ACCESS_CSRF_COOKIE_NAME", "csrf_access_token"),
        "csrf_header_name": cfg.get("JWT_ACCESS_CSRF_HEADER_NAME", "X-CSRF-TOKEN"),
    }


@bp.get("/login")
def login() -> Any:
    """The sign-in form; already signed-in admins go straight to the dashboard."""
    target = _safe_next(request.args.get("next"))
    if current_admin() is not None:
        return redirect(target)
    return render_template("admin/login.html", next_url=target)


@root_bp.get("/")
def site_root() -> Any:
    return redirect(url_for("admin_pages.dashboard"))


@bp.get("/")
@login_required
def dashboard(admin: str) -> str:
    """The 15 slots with their ingest links."""
    slots = [{"id": sid, "ingest_url": _ingest_url(sid)} for sid in slot_ids()]
    titles = {name: d.title for name, d in services().drivers.items()}
    return render_template(
        "admin/dashboard.html", slots=slots, provider_titles=titles, **_page_context("slots", admin)
    )


@bp.get("/slots/<slot_id>")
@login_required
def slot_page(slot_id: str, admin: str) -> Any:
    """One slot: provider, operation, settings form, templates, test photo."""
    if slot_id not in slot_ids():
        return _no_such_slot()
    return render_template(
        "admin/slot.html",
        slot_id=slot_id,
        slot_number=int(slot_id.rsplit("-", 1)[1]),
        ingest_url=_ingest_url(slot_id),
        **_page_context("slots", admin),
    )


@bp.get("/slots/<slot_id>/journal")
@login_required
def journal_page(slot_id: str, admin: str) -> Any:
    """The slot's recent jobs («Открыть лог»), filtered and paged by the browser."""
    if slot_id not in slot_ids():
        return _no_such_slot()
    return render_template("admin/journal.html", slot_id=slot_id, **_page_context("slots", admin))


@bp.get("/gallery")
@login_required
def gallery_page(admin: str) -> str:
    """Every slot's gallery on one page, and the time-limited links that share it."""
    return render_template("admin/gallery.html", max_hours=MAX_HOURS, **_page_context("gallery", admin))


@bp.get("/settings")
@login_required
def settings_page(admin: str) -> str:
    """Ingest password, deadline, retention and limits, provider keys, media cache."""
    providers = {name: d.title for name, d in services().drivers.items() if d.needs_api_key}
    return render_template(
        "admin/settings.html",
        providers=providers,
        sync_min=SYNC_MIN,
        sync_max=SYNC_MAX,
        editable=EDITABLE,
        **_page_context("settings", admin),
    )


@bp.get("/integrations")
@login_required
def integrations_page(admin: str) -> str:
    """Integration API keys (create, show once, revoke) and ZIP batches."""
    return render_template(
        "admin/integrations.html",
        slot_ids=slot_ids(),
        default_rate=DEFAULT_RATE,
        max_rate=MAX_RATE,
        **_page_context("integrations", admin),
    )


@bp.get("/stats")
@login_required
def stats_page(admin: str) -> str:
    """The overview and provider tables, refreshed by the page every 15 seconds."""
    return render_template("admin/stats.html", slot_ids=slot_ids(), **_page_context("stats", admin))


def _no_such_slot() -> Response:
    text = "Такого слота нет: доступны slot-001 … slot-015."
    page = render_template("public/message.html", status=404, title="Слот не найден", text=text)
    return Response(page, status=404)


def _safe_next(target: str | None) -> str:
    """Only local /admin paths are followed after login (no open redirect)."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return url_for("admin_pages.dashboard")
