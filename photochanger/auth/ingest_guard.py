"""The booth (ingest) password check, with a lockout per client address.

Keyed by address only: a booth that sends the right password from its own
address is never locked out by guesses from another one.
"""

from __future__ import annotations

import logging

from photochanger.auth.passwords import check_password
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
