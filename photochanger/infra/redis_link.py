"""The Redis every host shares (``REDIS_URL``), and whether it answers right now.

Unset: nothing uses Redis and every limit stays host-local. Set: permits,
throttles and the liveness of running jobs live there. When Redis stops
answering, callers fall back to their host-local way for
:data:`RETRY_AFTER_SECONDS` before trying Redis again, so an outage costs each
worker one short timeout per interval, never a request error. Every change of
state is logged and shown by ``photochanger_redis_up`` and ``/healthz``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis

from photochanger.infra import metrics

log = logging.getLogger("photochanger.redis")

#: Seconds host-local limits stand in after a Redis failure before Redis is tried again.
RETRY_AFTER_SECONDS = 5.0
#: Redis is local to the site: a longer wait would eat the booths' deadline.
CONNECT_TIMEOUT = 0.5
COMMAND_TIMEOUT = 1.0

#: What a failing Redis raises: its own errors, or the socket's.
ERRORS: tuple[type[Exception], ...] = (redis.RedisError, OSError)


class RedisLink:
    """The client for ``url`` (``None``: Redis not configured) and its recent health."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.client: redis.Redis | None = None
        if url:
            self.client = redis.Redis.from_url(
                url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=COMMAND_TIMEOUT
            )
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down = False
        self._error = ""
        self._gauge: Any = None
        self._target = ""
        if self.client is not None:
            kw = self.client.connection_pool.connection_kwargs
            self._target = f"{kw.get('host', kw.get('path', ''))}:{kw.get('port', '')}/{kw.get('db', 0)}"
            self._gauge = metrics.REDIS_UP.labels(self._target)
            self._gauge.set(1)

    @property
    def configured(self) -> bool:
        return self.client is not None

    def usable(self) -> redis.Redis | None:
        """The client, unless Redis failed within the last few seconds (or is not configured)."""
        if self.client is None or time.monotonic() < self._down_until:
            return None
        return self.client

    def failed(self, exc: BaseException, what: str) -> None:
        """Redis failed ``what``: host-local limits stand in for a while; logged once per outage."""
        with self._lock:
            self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
            first = not self._down
            self._down = True
            self._error = f"{type(exc).__name__}: {exc}"[:200]
        self._set_gauge(0)
        if first:
            log.warning(
                "redis.unavailable",
                extra={"event": "redis.unavailable", "during": what, "error": self._error},
            )

    def succeeded(self) -> None:
        """A Redis call worked: shared limits again (logged when that ends an outage)."""
        if not self._down:
            return
        with self._lock:
            was_down, self._down = self._down, False
        self._set_gauge(1)
        if was_down:
            log.warning("redis.available", extra={"event": "redis.available"})

    def _set_gauge(self, value: int) -> None:
        if self._gauge is not None:
            self._gauge.set(value)

    def check(self) -> dict[str, Any]:
        """A ping for ``/healthz`` and the metric: ``ok``, ``degraded`` (host-local limits) or ``unused``."""
        if self.client is None:
            return {"status": "unused"}
        try:
            self.client.ping()
        except ERRORS as exc:
            self.failed(exc, "ping")
            return {"status": "degraded", "detail": self._error, "fallback": "host-local limits"}
        self.succeeded()
        self._down_until = 0.0
        # Written even when this process saw no outage: the scraped value is the most
        # recent write of any worker, which may be another worker's 0.
        self._set_gauge(1)
        return {"status": "ok"}
