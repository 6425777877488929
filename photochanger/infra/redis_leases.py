"""Concurrency permits and job heartbeats in Redis: leases that expire unless renewed.

A limit of N is one sorted set: each member is a holder (a job id) scored
with the time its lease runs out. Taking a permit is one Lua script, atomic
on the server: drop the lapsed holders, then add this one if fewer than N
remain. Times are Redis's own clock, so hosts with skewed clocks agree. A
worker renews the leases it holds every third of their length from one
background loop per process; a worker that dies (``kill -9``, a lost host)
stops renewing and its permits come free by themselves within one lease
length. A job's heartbeat key, renewed the same way, lets any host's sweep
tell a running job from one whose worker is gone.

Hand-written because neither redis-py nor a maintained package offers an
N-permit semaphore with per-holder expiry (redis-py's ``Lock`` and the lock
packages are mutexes); the scripts are a few lines each.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable

import redis

from photochanger.infra.redis_link import ERRORS, RedisLink

log = logging.getLogger("photochanger.redis")

PREFIX = "photochanger:"

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# Hold ARGV[1] in the permit set KEYS[1] until ``expiry``; the set lives as long as its last holder.
_HOLD = """
redis.call('ZADD', KEYS[1], expiry, ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]))
return 1
"""

# KEYS[1] the permit set; ARGV holder, limit, lease ms. 1 when held.
_ACQUIRE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
   and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
local expiry = now + tonumber(ARGV[3])
"""
    + _HOLD
)

# KEYS[1] a permit set or a heartbeat key; ARGV holder (empty for a heartbeat), lease ms.
# 1 when renewed, 0 when the lease had lapsed (someone else may hold the permit now).
_RENEW = (
    _NOW
    + """
local expiry = now + tonumber(ARGV[2])
if ARGV[1] == '' then
  if not redis.call('GET', KEYS[1]) then return 0 end
  redis.call('SET', KEYS[1], expiry, 'PX', ARGV[3])
  return 1
end
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) < now then return 0 end
"""
    + _HOLD
)

# KEYS heartbeat keys; the indexes (1-based) of those that exist and have lapsed.
_LAPSED = (
    _NOW
    + """
local out = {}
for i, key in ipairs(KEYS) do
  local expiry = redis.call('GET', key)
  if expiry and tonumber(expiry) < now then out[#out + 1] = i end
end
return out
"""
)

# KEYS[1] heartbeat; ARGV lease ms, how long the lapsed key is kept for the sweep to see.
_BEAT = (
    _NOW
    + """
redis.call('SET', KEYS[1], now + tonumber(ARGV[1]), 'PX', ARGV[2])
return 1
"""
)


class RedisLease:
    """A held permit (or heartbeat) in Redis; :meth:`release` gives it back."""

    def __init__(self, leases: RedisLeases, key: str, holder: str) -> None:
        self._leases = leases
        self.key = key
        self.holder = holder
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        self._leases.give_back(self)

    def __enter__(self) -> RedisLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class RedisLeases:
    """Permits and heartbeats of this process in the Redis of ``link``."""

    def __init__(self, link: RedisLink, lease_seconds: float) -> None:
        if link.client is None:
            raise ValueError("RedisLeases needs REDIS_URL")
        self.link = link
        self.client: redis.Redis = link.client
        self.lease_ms = max(1, int(lease_seconds * 1000))
        #: A lapsed heartbeat is kept this long: longer than any sweep interval.
        self.keep_ms = self.lease_ms + 3_600_000
        self._acquire = self.client.register_script(_ACQUIRE)
        self._renew = self.client.register_script(_RENEW)
        self._lapsed = self.client.register_script(_LAPSED)
        self._beat = self.client.register_script(_BEAT)
        self._held: set[RedisLease] = set()
        self._renewer_pid = 0
        self._lock = threading.Lock()

    # -- permits and heartbeats (raise a Redis error when Redis fails) ------------

    def try_acquire(self, name: str, limit: int, holder: str) -> RedisLease | None:
        """One of ``limit`` permits named ``name`` for ``holder``, or ``None`` when all are taken."""
        if limit <= 0:
            return None
        key = f"{PREFIX}permit:{name}"
        if not self._acquire(keys=[key], args=[holder, limit, self.lease_ms]):
            return None
        return self._hold(RedisLease(self, key, holder))

    def heartbeat(self, job_id: str) -> RedisLease:
        """A key that says the job's worker is alive while it is renewed."""
        key = self.heartbeat_key(job_id)
        self._beat(keys=[key], args=[self.lease_ms, self.keep_ms])
        return self._hold(RedisLease(self, key, ""))

    @staticmethod
    def heartbeat_key(job_id: str) -> str:
        return f"{PREFIX}job:{job_id}"

    def lapsed(self, job_ids: Iterable[str]) -> set[str]:
        """The jobs among ``job_ids`` whose heartbeat stopped (no key: not known, not lapsed)."""
        ids = list(job_ids)
        if not ids:
            return set()
        found = self._lapsed(keys=[self.heartbeat_key(job_id) for job_id in ids], args=[])
        return {ids[int(i) - 1] for i in found}

    def give_back(self, lease: RedisLease) -> None:
        """Release ``lease`` now; while Redis is down it lapses by itself."""
        with self._lock:
            self._held.discard(lease)
        try:
            if lease.holder:
                self.client.zrem(lease.key, lease.holder)
            else:
                self.client.delete(lease.key)
        except ERRORS as exc:
            self.link.failed(exc, "release")

    # -- renewal -------------------------------------------------------------------

    def _hold(self, lease: RedisLease) -> RedisLease:
        with self._lock:
            self._held.add(lease)
            if self._renewer_pid != os.getpid():  # first lease, or a forked child
                self._renewer_pid = os.getpid()
                threading.Thread(target=self._renew_loop, name="redis-lease-renewer", daemon=True).start()
        return lease

    def _renew_loop(self) -> None:
        """Renew every held lease each third of a lease; a green thread under gevent."""
        while True:
            time.sleep(self.lease_ms / 3000)
            self.renew_all()

    def renew_all(self) -> int:
        """Renew the held leases in one round trip; returns how many had lapsed."""
        with self._lock:
            held = list(self._held)
        if not held:
            return 0
        try:
            pipe = self.client.pipeline(transaction=False)
            for lease in held:
                self._renew(keys=[lease.key], args=[lease.holder, self.lease_ms, self.keep_ms], client=pipe)
            results = pipe.execute()
        except ERRORS as exc:
            self.link.failed(exc, "renew")
            return 0
        self.link.succeeded()
        lapsed = [lease for lease, ok in zip(held, results, strict=True) if not ok and lease in self._held]
        for lease in lapsed:
            log.warning(
                "redis.lease_lapsed",
                extra={"event": "redis.lease_lapsed", "key": lease.key, "holder": lease.holder},
            )
        return len(lapsed)
