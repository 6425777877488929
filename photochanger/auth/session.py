"""Admin sessions: JWT configuration, the credentials file, the guard of admin routes.

The contract for API clients and the Jinja pages is in ``docs/admin-auth.md``.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any
from urllib.parse import quote

from flask import Flask, current_app, redirect, request
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError
from werkzeug.wrappers import Response as BaseResponse

from photochanger.auth.accounts import Accounts, CredentialsError, load_accounts, resolve_path
from photochanger.auth.revocation import is_revoked
from photochanger.auth.throttle import FALLBACK_URI
from photochanger.config import PROJECT_ROOT
from photochanger.errors import ApiError, wants_json
from photochanger.extensions import jwt, limiter
from photochanger.infra import file_limits  # noqa: F401 - registers the file:// storage scheme
from photochanger.infra.secrets import instance_secret

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
    # Login and ingest lockouts must hold across workers, not per process.
    host_local = "file://" + os.path.abspath(os.path.join(cfg["LOCK_DIR"], "ratelimit"))
    if not cfg.get("RATELIMIT_STORAGE_URI") and cfg.get("REDIS_URL"):
        cfg["RATELIMIT_STORAGE_URI"] = cfg["REDIS_URL"]  # one count for every host
        cfg.setdefault(FALLBACK_URI, host_local)  # while Redis is down, each host counts alone
    if not cfg.get("RATELIMIT_STORAGE_URI"):
        cfg["RATELIMIT_STORAGE_URI"] = host_local
    # A stopped Redis must not stop booths or admins: the throttles log it and let requests through.
    cfg.setdefault("RATELIMIT_STORAGE_OPTIONS", {"wrap_exceptions": True})
    cfg.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    jwt.init_app(app)
    limiter.init_app(app)
    _register_jwt_callbacks()


def credentials_path(app: Flask | None = None) -> str:
    app = app or current_app
    return resolve_path(str(app.config["ADMIN_CREDENTIALS_FILE"]), PROJECT_ROOT)


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


def admin_accounts() -> Accounts:
    try:
        return load_accounts(credentials_path())
    except CredentialsError as exc:
        current_app.logger.error(str(exc), extra={"event": "auth.credentials_error"})
        raise ApiError("admin_not_configured") from None


def require_admin() -> None:
    """``before_request`` of the admin blueprints: a valid token or a JSON 401."""
    verify_jwt_in_request()


def signed_in_admin(locations: list[str]) -> str | None:
    """The admin of a valid session token in ``locations``, else ``None``.

    For routes open to guests that an admin may also use: an invalid, expired or
    revoked token is not an error there, the request is then judged as a guest's.
    """
    try:
        verify_jwt_in_request(optional=True, locations=locations)
    except (JWTExtendedException, PyJWTError, ApiError):
        return None
    identity = get_jwt_identity()
    return None if identity is None else str(identity)


def current_admin() -> str:
    """Username of the authenticated admin (``updated_by`` in the database)."""
    return str(get_jwt_identity())


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
        return str(payload.get("sub")) in admin_accounts().hashes

    @jwt.token_in_blocklist_loader
    def _logged_out(_header: dict[str, Any], payload: dict[str, Any]) -> bool:
        return is_revoked(str(payload.get("jti")))

    @jwt.revoked_token_loader
    def _revoked(_header: dict[str, Any], _payload: dict[str, Any]) -> BaseResponse:
        return _auth_failure("unauthorized", "Сессия завершена выходом: войдите заново")

    @jwt.token_verification_failed_loader
    def _removed(_header: dict[str, Any], _payload: dict[str, Any]) -> BaseResponse:
        return _auth_failure("unauthorized", "Учётная запись администратора больше не существует")
