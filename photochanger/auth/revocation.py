"""Logout revokes the admin token: a denylist of ``jti`` in the database until the token expires.

The database, not a per-worker set or the throttle storage: every worker and
every host that shares it must refuse the token at once, and a restart must
not bring it back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app, request
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.models import RevokedToken


def _presented_tokens() -> list[str]:
    """The encoded tokens of this request: the bearer header and the session cookie."""
    tokens = []
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        tokens.append(header[7:].strip())
    cookie = request.cookies.get(current_app.config["JWT_ACCESS_COOKIE_NAME"])
    if cookie:
        tokens.append(cookie)
    return tokens


def _claims(encoded: str) -> dict[str, Any] | None:
    try:
        # Signature checked; no CSRF or expiry check: revoking can only take rights away.
        return decode_token(encoded, allow_expired=True)
    except (PyJWTError, JWTExtendedException):
        return None


def revoke_presented_tokens() -> int:
    """Revoke every valid token the request carries; returns how many were revoked."""
    now = utcnow()
    db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= now))
    revoked = 0
    for encoded in _presented_tokens():
        claims = _claims(encoded)
        if not claims or "jti" not in claims or "exp" not in claims:
            continue
        expires = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
        if expires > now and not is_revoked(str(claims["jti"])):
            db.session.add(RevokedToken(jti=str(claims["jti"]), expires_at=expires))
            revoked += 1
    try:
        db.session.commit()
    except IntegrityError:  # the same token logged out at the same moment in another worker
        db.session.rollback()
    return revoked


def is_revoked(jti: str) -> bool:
    return db.session.scalar(select(RevokedToken.jti).where(RevokedToken.jti == jti)) is not None
