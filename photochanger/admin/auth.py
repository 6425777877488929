"""Admin login, logout and "who am I": the routes of ``docs/admin-auth.md``."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask_jwt_extended import (
    create_access_token,
    get_jwt,
    set_access_cookies,
    unset_jwt_cookies,
    verify_jwt_in_request,
)

from photochanger.auth import login_guard
from photochanger.auth.accounts import authenticate
from photochanger.auth.revocation import revoke_presented_tokens
from photochanger.auth.session import admin_accounts, current_admin
from photochanger.auth.throttle import client_address
from photochanger.clock import iso_z
from photochanger.errors import ApiError
from photochanger.extensions import limiter

log = logging.getLogger("photochanger.auth")

bp = Blueprint("auth_api", __name__)


def _log(event: str, username: str, reason: str | None = None) -> None:
    extra: dict[str, Any] = {
        "event": event,
        "username": username[:100],
        "ip": client_address(),
        "time": dt.datetime.now(dt.UTC).isoformat(),
    }
    if reason:
        extra["reason"] = reason
    log.log(logging.INFO if reason is None else logging.WARNING, event, extra=extra)


@bp.post("/api/login")
@limiter.limit("60 per minute")  # per IP: bounds the bcrypt CPU spent on guessing many usernames
def login() -> Response:
    """Exchange username/password for a JWT (body or HttpOnly cookie)."""
    body: Any = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(body, dict) and not hasattr(body, "get"):
        raise ApiError(
            "bad_request", "Ожидается JSON-объект с полями username и password", extra={"field": "body"}
        )
    values = {}
    for name in ("username", "password"):
        value = body.get(name)
        if not isinstance(value, str) or not value:
            raise ApiError("bad_request", f"Поле «{name}» обязательно", extra={"field": name})
        values[name] = value
    username, password = values["username"].strip(), values["password"]
    cookie_flag = body.get("cookie")
    want_cookie = request.args.get("cookie") in ("1", "true") or cookie_flag in (True, "1", "true", "on")

    accounts = admin_accounts()
    ip = client_address()
    try:
        login_guard.refuse_if_locked(username, ip)
    except ApiError:
        _log("auth.login.failure", username, "throttled")
        raise
    if not authenticate(accounts, username, password):
        login_guard.record_failure(username, ip)
        _log("auth.login.failure", username, "invalid_credentials")
        raise ApiError("invalid_credentials")
    login_guard.record_success(username, ip)
    _log("auth.login.success", username)

    token = create_access_token(identity=username)
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    expires_in = int(expires.total_seconds())
    if want_cookie:
        # The token stays out of reach of page scripts: only the cookie carries it.
        resp = jsonify(
            {"status": "ok", "token_type": "cookie", "expires_in": expires_in, "username": username}
        )
        set_access_cookies(resp, token, max_age=expires_in)
    else:
        resp = jsonify({"access_token": token, "token_type": "bearer", "expires_in": expires_in})
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/api/logout")
def logout() -> Response:
    """Revoke the presented token (bearer or cookie) and clear the session cookies."""
    revoke_presented_tokens()
    resp = jsonify({"status": "ok"})
    unset_jwt_cookies(resp)
    return resp


@bp.get("/api/me")
def me() -> Response:
    """Who is logged in and until when: lets pages check their session."""
    verify_jwt_in_request()
    exp = get_jwt().get("exp")
    expires_at = iso_z(dt.datetime.fromtimestamp(exp, dt.UTC)) if exp else None
    return jsonify({"username": current_admin(), "expires_at": expires_at})
