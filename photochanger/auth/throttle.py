"""Login throttling: 10 failures for one username+IP within 15 minutes lock
that pair out for 15 minutes (DESIGN.md §6).

Built on Flask-Limiter's storage (``RATELIMIT_STORAGE_URI``): failures are hit
in a moving window, and reaching the limit hits a one-shot lock whose fixed
window starts at that moment, so the lockout lasts the full 15 minutes. While
locked, even the right password is refused.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter

from photochanger.extensions import limiter

MAX_FAILURES = 10
WINDOW_MINUTES = 15
_FAILURES: RateLimitItem = parse(f"{MAX_FAILURES} per {WINDOW_MINUTES} minutes")
_LOCK: RateLimitItem = parse(f"1 per {WINDOW_MINUTES} minutes")
_NS_FAIL = "login-failures"
_NS_LOCK = "login-lock"


def _key(username: str, ip: str) -> str:
    return f"{username.strip().lower()}|{ip}"


def _failure_counter() -> RateLimiter:
    storage = limiter.storage
    # Memcached has no moving window; a fixed window is the closest it offers.
    if hasattr(storage, "acquire_entry"):
        return MovingWindowRateLimiter(storage)  # type: ignore[arg-type]
    return FixedWindowRateLimiter(storage)


def locked_for(username: str, ip: str) -> int | None:
    """Seconds left of a lockout of this username+IP, or ``None`` when not locked."""
    lock = FixedWindowRateLimiter(limiter.storage)
    key = _key(username, ip)
    if lock.test(_LOCK, _NS_LOCK, key):
        return None
    reset = lock.get_window_stats(_LOCK, _NS_LOCK, key).reset_time
    return max(1, math.ceil(reset - time.time()))


def record_failure(username: str, ip: str) -> None:
    """Count a failure; the ``MAX_FAILURES``-th starts the lockout."""
    counter, key = _failure_counter(), _key(username, ip)
    counter.hit(_FAILURES, _NS_FAIL, key)
    if not counter.test(_FAILURES, _NS_FAIL, key):
        FixedWindowRateLimiter(limiter.storage).hit(_LOCK, _NS_LOCK, key)
        counter.clear(_FAILURES, _NS_FAIL, key)


def record_success(username: str, ip: str) -> None:
    """A successful login forgets earlier failures of this username+IP."""
    _failure_counter().clear(_FAILURES, _NS_FAIL, _key(username, ip))
