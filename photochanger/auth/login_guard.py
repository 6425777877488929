"""Admin login attempts: the lockouts of ``docs/admin-auth.md`` around the password check."""

from __future__ import annotations

from photochanger.auth.throttle import LOGIN_PAIR, LOGIN_USERNAME, throttled


def _username_key(username: str) -> str:
    return username.strip().lower()


def _pair_key(username: str, address: str) -> str:
    return f"{_username_key(username)}|{address}"


def refuse_if_locked(username: str, address: str) -> None:
    """429 ``throttled`` while this username is locked from this address or from everywhere."""
    waits = [
        LOGIN_PAIR.locked_for(_pair_key(username, address)),
        LOGIN_USERNAME.locked_for(_username_key(username)),
    ]
    left = max((w for w in waits if w is not None), default=None)
    if left is not None:
        raise throttled(left, "Слишком много неудачных попыток входа")


def record_failure(username: str, address: str) -> None:
    LOGIN_PAIR.record_failure(_pair_key(username, address))
    LOGIN_USERNAME.record_failure(_username_key(username))


def record_success(username: str, address: str) -> None:
    """A successful login forgets earlier failures from this address (not the ceiling's count)."""
    LOGIN_PAIR.forget(_pair_key(username, address))
