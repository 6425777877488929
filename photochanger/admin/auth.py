"""Admin authentication: login/logout, JWT configuration and error answers.

The contract for API clients and the Jinja pages is in ``docs/admin-auth.md``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, request
from flask_jwt_extended import (
    create_access_token,
    get_jwt,
    get_jwt_identity,
    set_access_cookies,
    unset_jwt_cookies,
    verify_jwt_in_request,
)
from werkzeug.wrappers import Response as BaseResponse

from .. import _ROOT
from ..errors import ApiError, wants_json
from ..extensions import jwt, limiter
from ..services import login_throttle
from ..services.admin_accounts import Accounts, CredentialsError, authenticate, load_accounts, resolve_path
from ..services.secrets_box import instance_secret

log = logging.getLogger("photochanger.auth")

bp = Blueprint("auth_api", __name__)

DEFAULT_TOKEN_HOURS = 12
#: Where HTML pages send a visitor without a valid session cookie.
DEFAULT_LOGIN_PAGE = "/admin/login"


def init_admin_auth(app: Flask) -> None:
    """Configure Flask-JWT-Extended and Flask-Limiter on ``app``.

    Without ``JWT_SECRET_KEY`` the secret persisted in ``instance/jwt_secret``
    is used, so tokens survive restarts and every worker signs alike.
    """
    cfg = app.config
    if not cfg.get("JWT_SECRET_KEY"):
        cfg["JWT_SECRET_KEY"] = instance_secret(app.instance_path)
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = cfg["JWT_SECRET_KEY"]
    hours = float(os.environ.get("JWT_ACCESS_TOKEN_HOURS") or DEFAULT_TOKEN_HOURS)
    cfg.setdefault("JWT_ACCESS_TOKEN_EXPIRES", dt.timedelta(hours=hours))
    # HS256 only: "alg: none" and asymmetric-confusion tokens fail to decode.
    cfg["JWT_ALGORITHM"] = "HS256"
    cfg["JWT_DECODE_ALGORITHMS"] = ["HS256"]
    cfg.setdefault("JWT_TOKEN_LOCATION", ["headers", "cookies"])
    cfg.setdefault("JWT_COOKIE_CSRF_PROTECT", True)
    cfg.setdefault("JWT_CSRF_CHECK_FORM", True)  # plain HTML forms send csrf_token
    cfg.setdefault("JWT_COOKIE_SAMESITE", "Lax")
    cfg.setdefault("JWT_SESSION_COOKIE", False)  # the cookie lives as long as the token
    if "JWT_COOKIE_SECURE" not in cfg:
        env = os.environ.get("JWT_COOKIE_SECURE")
        if env:
            cfg["JWT_COOKIE_SECURE"] = env.lower() in ("1", "true", "yes")
        else:
            # Studios often run on plain http inside the LAN; a Secure cookie would never come back.
            cfg["JWT_COOKIE_SECURE"] = str(cfg.get("PUBLIC_BASE_URL") or "").startswith("https://")
    cfg.setdefault("ADMIN_LOGIN_PAGE", DEFAULT_LOGIN_PAGE)
    jwt.init_app(app)
    limiter.init_app(app)
    _register_jwt_callbacks()


def credentials_path(app: Flask | None = None) -> str:
    app = app or current_app
    return resolve_path(str(app.config["ADMIN_CREDENTIALS_FILE"]), _ROOT)


def check_credentials(app: Flask) -> Accounts:
    """Validate the credentials file; raises :class:`CredentialsError` naming file and problem."""
    return load_accounts(credentials_path(app))


def check_credentials_at_start(app: Flask) -> None:
    """Server start-up check: raise ``RuntimeError`` (gunicorn prints it and exits 1)."""
    try:
        check_credentials(app)
    except CredentialsError as exc:
        raise RuntimeError(
            f"{exc}. Admin login cannot work: fix the file or set ADMIN_CREDENTIALS_FILE"
        ) from None


def _accounts() -> Accounts:
    try:
        return load_accounts(credentials_path())
    except CredentialsError as exc:
        current_app.logger.error(str(exc), extra={"event": "auth.credentials_error"})
        raise ApiError("admin_not_configured") from None


def require_admin() -> None:
    """``before_request`` of the admin blueprints: a valid token or a JSON 401."""
    verify_jwt_in_request()


def current_admin() -> str:
    """Username of the authenticated admin (``updated_by`` in the database)."""
    return str(get_jwt_identity())


def _client_ip() -> str:
    return request.remote_addr or "unknown"


def _log(event: str, username: str, reason: str | None = None) -> None:
    extra: dict[str, Any] = {
        "event": event,
        "username": username[:100],
        "ip": _client_ip(),
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

    accounts = _accounts()
    ip = _client_ip()
    left = login_throttle.locked_for(username, ip)
    if left is not None:
        _log("auth.login.failure", username, "throttled")
        minutes = max(1, round(left / 60))
        raise ApiError(
            "throttled",
            f"Слишком много неудачных попыток входа: повторите через {minutes} мин.",
            retry_after=left,
        )
    if not authenticate(accounts, username, password):
        login_throttle.record_failure(username, ip)
        _log("auth.login.failure", username, "invalid_credentials")
        raise ApiError("invalid_credentials")
    login_throttle.record_success(username, ip)
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
    """Clear the session cookies (a bearer token simply expires)."""
    resp = jsonify({"status": "ok"})
    unset_jwt_cookies(resp)
    return resp


@bp.get("/api/me")
def me() -> Response:
    """Who is logged in and until when: lets pages check their session."""
    verify_jwt_in_request()
    exp = get_jwt().get("exp")
    expires_at = dt.datetime.fromtimestamp(exp, dt.UTC).isoformat().replace("+00:00", "Z") if exp else None
    return jsonify({"username": current_admin(), "expires_at": expires_at})


# -- JWT failures ---------------------------------------------------------------


def _auth_failure(reason: str, message: str | None = None) -> BaseResponse:
    if not wants_json() and reason != "csrf_failed":
        target = current_app.config.get("ADMIN_LOGIN_PAGE", DEFAULT_LOGIN_PAGE)
        return redirect(f"{target}?next={quote(request.full_path.rstrip('?'))}")
    return ApiError(reason, message).to_response()


def _register_jwt_callbacks() -> None:
    @jwt.unauthorized_loader
    def _missing(detail: str) -> BaseResponse:
        if "CSRF" in detail:
            return _auth_failure("csrf_failed")
        return _auth_failure("unauthorized", "Требуется вход администратора")

    @jwt.invalid_token_loader
    def _invalid(_detail: str) -> BaseResponse:
        return _auth_failure("unauthorized", "Недействительный токен: войдите заново")

    @jwt.expired_token_loader
    def _expired(_header: dict[str, Any], _payload: dict[str, Any]) -> BaseResponse:
        return _auth_failure("unauthorized", "Срок действия сессии истёк: войдите заново")

    @jwt.token_verification_loader
    def _still_an_admin(_header: dict[str, Any], payload: dict[str, Any]) -> bool:
        # Removing an account from the file ends its sessions at once.
        return str(payload.get("sub")) in _accounts().hashes

    @jwt.token_verification_failed_loader
    def _removed(_header: dict[str, Any], _payload: dict[str, Any]) -> BaseResponse:
        return _auth_failure("unauthorized", "Учётная запись администратора больше не существует")
