"""Integration API keys: made once, stored hashed, checked on every request, revocable.

A key is ``pc_`` and 32 random bytes (URL-safe base64). Only its SHA-256 is
stored: a fast hash is enough for a secret of 256 random bits (no list of
likely keys exists to try, and 2^255 guesses are out of reach), while a slow
password hash (bcrypt) would cost every API call tens of milliseconds of CPU
and could not be looked up by an index. Each request reads the key's row, so a
revocation holds in every worker and on every host at the next request.

Per-key rate limits use Flask-Limiter's storage (``RATELIMIT_STORAGE_URI``),
shared by the workers of a host (or by hosts through Redis), like the login
throttles; when that storage is down, requests pass and the outage is logged.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, request
from limits import parse
from limits.errors import StorageError
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter
from sqlalchemy import select, update

from photochanger.auth.session import signed_in_admin
from photochanger.clock import iso_z, utcnow
from photochanger.errors import ApiError
from photochanger.extensions import db, limiter
from photochanger.infra.secrets import decrypt, encrypt
from photochanger.models import ApiKey
from photochanger.validation import NOT_BLANK

log = logging.getLogger("photochanger.auth")

KEY_PREFIX = "pc_"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the visible prefix, not a secret
HEADER = "X-API-Key"
#: Requests per minute a new key may make unless the admin says otherwise.
DEFAULT_RATE = 60
MAX_RATE = 6000

CREATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NOT_BLANK},
        "slot_ids": {
            "type": ["array", "null"],
            "items": {"type": "string", "pattern": "^slot-[0-9]{3}$"},
            "minItems": 1,
            "maxItems": 100,
            "uniqueItems": True,
        },
        "rate_per_minute": {"type": "integer", "minimum": 1, "maximum": MAX_RATE},
    },
    "required": ["name"],
    "additionalProperties": False,
}


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewKey:
    """A key just made: the only moment its secrets exist outside the client."""

    row: ApiKey
    api_key: str
    webhook_secret: str


def create_key(name: str, slot_ids: list[str] | None, rate: int, created_by: str) -> NewKey:
    """A new key row (the caller commits) and the secrets to show once."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id=uuid.uuid4().hex,
        name=name.strip(),
        prefix=raw[: len(KEY_PREFIX) + 6],
        key_hash=key_hash(raw),
        webhook_secret_enc=encrypt(current_app.config["SECRET_KEY"], secret),
        slot_ids=sorted(slot_ids) if slot_ids else None,
        rate_per_minute=rate,
        created_at=utcnow(),
        created_by=created_by,
        request_count=0,
    )
    db.session.add(row)
    return NewKey(row, raw, secret)


def all_keys() -> list[ApiKey]:
    """Every key, live ones first, newest first."""
    rows = db.session.execute(
        select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
    )
    return list(rows.scalars())


def revoke_key(key_id: str) -> ApiKey:
    """Revoke (idempotent; the caller commits); 404 ``not_found`` for an unknown id."""
    row = db.session.get(ApiKey, key_id) if len(key_id) <= 32 else None
    if row is None:
        raise ApiError("not_found", "Ключ API не найден")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def key_view(row: ApiKey) -> dict[str, Any]:
    """A key as the admin API shows it: never the key or its webhook secret."""
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "slot_ids": row.slot_ids,
        "rate_per_minute": row.rate_per_minute,
        "created_at": iso_z(row.created_at),
        "created_by": row.created_by,
        "revoked_at": iso_z(row.revoked_at),
        "last_used_at": iso_z(row.last_used_at),
        "request_count": int(row.request_count or 0),
    }


def webhook_secret(row: ApiKey) -> str:
    return decrypt(current_app.config["SECRET_KEY"], row.webhook_secret_enc)


# -- the guard of the integration API ------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who called the integration API: a key, as plain values, or an admin (no key, every slot)."""

    key_id: str | None
    name: str
    slot_ids: tuple[str, ...] | None

    @classmethod
    def for_admin(cls, username: str) -> Caller:
        """An admin: no key, every slot."""
        return cls(None, username, None)

    @property
    def admin(self) -> str | None:
        """The admin's username when no key is behind the call."""
        return self.name if self.key_id is None else None

    def require_slot(self, slot_id: str) -> None:
        """403 unless the key's scope includes ``slot_id``."""
        if self.slot_ids is not None and slot_id not in self.slot_ids:
            raise ApiError("forbidden", f"Ключ API не даёт доступа к слоту «{slot_id[:40]}»")


_BY_HASH = select(ApiKey.id, ApiKey.name, ApiKey.slot_ids, ApiKey.rate_per_minute, ApiKey.revoked_at)


def require_api_key() -> None:
    """``before_request`` of the integration API: a live key in ``X-API-Key`` or 401; 429 over its rate.

    OPTIONS needs none and is not counted: it lists the methods (``Allow``), as the admin API's does.
    """
    if request.method == "OPTIONS":
        return
    sent = request.headers.get(HEADER)
    if sent is None:
        g.api_caller = _admin_caller()
        return
    raw = sent.strip()
    if not raw:  # a sent key decides, even a blank one: never the admin token beside it
        raise ApiError("unauthorized", "Пустой ключ API в заголовке X-API-Key")
    row = db.session.execute(_BY_HASH.where(ApiKey.key_hash == key_hash(raw))).first()
    if row is None or row.revoked_at is not None:
        db.session.rollback()
        raise ApiError("unauthorized", "Ключ API неверен или отозван")
    _check_rate(row.id, int(row.rate_per_minute))
    db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == row.id)
        .values(request_count=ApiKey.request_count + 1, last_used_at=utcnow())
    )
    db.session.commit()
    g.api_caller = Caller(row.id, row.name, tuple(row.slot_ids) if row.slot_ids else None)


def _admin_caller() -> Caller:
    """An admin's bearer token in place of a key: every slot and every key's jobs, no rate; else 401.

    Read from the ``Authorization`` header only: a session cookie would need the CSRF check.
    """
    admin = signed_in_admin(["headers"]) if request.headers.get("Authorization") else None
    if admin is None:
        raise ApiError("unauthorized", "Нужен ключ API в заголовке X-API-Key или токен администратора")
    log.info("auth.api.admin", extra={"event": "auth.api.admin", "admin": admin})
    return Caller.for_admin(admin)


def current_caller() -> Caller:
    caller: Caller = g.api_caller
    return caller


def _check_rate(key_id: str, per_minute: int) -> None:
    left = _rate_exceeded(key_id, per_minute)
    if left is not None:
        db.session.rollback()
        raise ApiError(
            "too_many_requests",
            f"Превышен лимит ключа API: {per_minute} запросов в минуту",
            retry_after=left,
        )


def _rate_exceeded(key_id: str, per_minute: int) -> int | None:
    """Seconds until the key may call again, or ``None`` when this request is within its rate.

    A storage outage lets the request through (logged), as the login throttles do.
    """
    item = parse(f"{per_minute} per 1 minute")
    try:
        counter = _window(limiter.storage)
        if counter.hit(item, "apikey", key_id):
            return None
        reset = counter.get_window_stats(item, "apikey", key_id).reset_time
    except StorageError as exc:
        log.error(
            "apikey.rate_unavailable",
            extra={"event": "apikey.rate_unavailable", "error": str(exc.storage_error)[:200]},
        )
        return None
    return max(1, math.ceil(reset - time.time()))


def _window(storage: Any) -> RateLimiter:
    # The file storage and Memcached have no moving window; a fixed one it is there.
    if hasattr(storage, "acquire_entry"):
        return MovingWindowRateLimiter(storage)
    return FixedWindowRateLimiter(storage)
