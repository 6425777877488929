"""Password-guess throttles on Flask-Limiter's storage (``RATELIMIT_STORAGE_URI``).

The storage is shared by every worker of a host (``flock``-ed files in
``LOCK_DIR``, :mod:`photochanger.infra.file_limits`) or by every host (Redis):
a guesser gains nothing from landing on another worker. Failures are hit in a
window; reaching the limit hits a one-shot lock whose window starts at that
moment, so the lockout lasts its full length. While locked, even the right
password is refused: otherwise the answer would tell which guess was right.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import request
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter

from photochanger.errors import ApiError
from photochanger.extensions import limiter

log = logging.getLogger("photochanger.auth")
_F = TypeVar("_F", bound=Callable[..., Any])


def _fail_open(default: object) -> Callable[[_F], _F]:
    """When the storage is down (Redis stopped), booths and admins still get in; the error is logged."""

    def wrap(method: _F) -> _F:
        @functools.wraps(method)
        def guarded(*args: Any) -> Any:
            try:
                return method(*args)
            except StorageError as exc:
                log.error(
                    "auth.throttle_unavailable",
                    extra={"event": "auth.throttle_unavailable", "error": str(exc.storage_error)[:200]},
                )
                return default

        return cast(_F, guarded)

    return wrap


def client_address() -> str:
    """The client's address: the peer, or what ``TRUSTED_PROXY_COUNT`` proxies say it is."""
    return request.remote_addr or "unknown"


def throttled(left: int, why: str) -> ApiError:
    """429 ``throttled`` saying ``why`` (Russian) and when to try again."""
    minutes = max(1, round(left / 60))
    return ApiError("throttled", f"{why}: повторите через {minutes} мин.", retry_after=left)


@dataclass(frozen=True)
class Throttle:
    """``failures`` wrong guesses of one key within a window lock that key for ``lock``."""

    name: str
    failures: RateLimitItem
    lock: RateLimitItem

    @_fail_open(None)
    def locked_for(self, key: str) -> int | None:
        """Seconds left of a lockout of ``key``, or ``None`` when not locked."""
        lock = FixedWindowRateLimiter(limiter.storage)
        if lock.test(self.lock, self.name, "lock", key):
            return None
        reset = lock.get_window_stats(self.lock, self.name, "lock", key).reset_time
        return max(1, math.ceil(reset - time.time()))

    @_fail_open(False)
    def record_failure(self, key: str) -> bool:
        """Count a failure; returns whether it started the lockout."""
        counter = _failure_counter()
        counter.hit(self.failures, self.name, "fail", key)
        if counter.test(self.failures, self.name, "fail", key):
            return False
        FixedWindowRateLimiter(limiter.storage).hit(self.lock, self.name, "lock", key)
        counter.clear(self.failures, self.name, "fail", key)
        return True

    @_fail_open(None)
    def forget(self, key: str) -> None:
        """Forget earlier failures of ``key`` (a lock already started stays)."""
        _failure_counter().clear(self.failures, self.name, "fail", key)


def _failure_counter() -> RateLimiter:
    storage = limiter.storage
    # The file storage and Memcached have no moving window; a fixed one starts at the first failure.
    if hasattr(storage, "acquire_entry"):
        return MovingWindowRateLimiter(storage)  # type: ignore[arg-type]
    return FixedWindowRateLimiter(storage)


#: One username from one address: 10 failures in 15 minutes lock the pair for 15 minutes.
LOGIN_PAIR = Throttle("login", parse("10 per 15 minutes"), parse("1 per 15 minutes"))
#: One username from anywhere: a generous ceiling against guessing spread over many addresses.
LOGIN_USERNAME = Throttle("login-user", parse("100 per 1 hour"), parse("1 per 15 minutes"))
#: Ingest passwords from one address: a booth whose operator mistyped it recovers within minutes.
INGEST_ADDRESS = Throttle("ingest", parse("10 per 5 minutes"), parse("1 per 5 minutes"))
