"""The booth (ingest) password check, with a lockout per client address.

Keyed by address only: a booth that sends the right password from its own
address is never locked out by guesses from another one. A valid admin bearer
token stands in for the password, so an admin can test a slot through the
booth's own route without knowing the booth password.
"""

from __future__ import annotations

import logging

from flask import request

from photochanger.auth.passwords import check_password
from photochanger.auth.session import signed_in_admin
from photochanger.auth.throttle import INGEST_ADDRESS, client_address, throttled
from photochanger.errors import ApiError

log = logging.getLogger("photochanger.auth")


def require_ingest_password(password: str, password_hash: str | None) -> None:
    """401 ``unauthorized`` for a wrong password; 429 ``throttled`` while the address is locked."""
    address = client_address()
    left = INGEST_ADDRESS.locked_for(address)
    if left is not None:
        raise throttled(left, "Слишком много неверных паролей ingest с этого адреса")
    if not check_password(password, password_hash):
        if INGEST_ADDRESS.record_failure(address):
            log.warning("auth.ingest.locked", extra={"event": "auth.ingest.locked", "ip": address})
        raise ApiError("unauthorized", "Неверный или отсутствующий пароль ingest")


def ingest_admin() -> str | None:
    """The admin of a valid bearer token in ``Authorization``, else ``None`` (the password decides).

    Read from the headers only, before the body: a booth sends no such header, so
    its path costs nothing more. An invalid, expired or revoked token is not an
    error here: the request is then judged by its password, as any other.
    """
    if request.headers.get("Authorization", "")[:7].lower() != "bearer ":
        return None
    admin = signed_in_admin(["headers"])
    if admin is None:
        return None
    log.info(
        "auth.ingest.admin", extra={"event": "auth.ingest.admin", "admin": admin, "ip": client_address()}
    )
    return admin
