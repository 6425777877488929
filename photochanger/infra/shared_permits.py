"""Concurrency permits for every host (Redis) or for this host (lock files), whichever works now.

With ``REDIS_URL`` a limit of N holds across all hosts (:mod:`.redis_leases`);
without it, or while Redis does not answer, each host keeps its own N with
``flock``-ed files (:mod:`.permits`), exactly as on a single host. A lease
from either side has ``release()``, so callers never ask which one they got.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

from photochanger.infra import permits
from photochanger.infra.redis_leases import PREFIX, RedisLeases
from photochanger.infra.redis_link import ERRORS, RedisLink


class Releasable(Protocol):
    def release(self) -> None: ...


class SharedPermits:
    """Permits named like ``slot-001`` or ``provider-gemini``, shared as widely as possible."""

    def __init__(self, lock_dir: str, link: RedisLink, lease_seconds: float) -> None:
        self.lock_dir = lock_dir
        self.link = link
        self.lease_seconds = lease_seconds
        self.redis = RedisLeases(link, lease_seconds) if link.configured else None

    def _leases(self) -> RedisLeases | None:
        return self.redis if self.redis is not None and self.link.usable() is not None else None

    def try_acquire(self, name: str, limit: int, holder: str) -> Releasable | None:
        """One of ``limit`` permits named ``name`` for ``holder`` (a job id), or ``None``."""
        leases = self._leases()
        if leases is not None:
            try:
                lease = leases.try_acquire(name, limit, holder)
            except ERRORS as exc:
                self.link.failed(exc, "permit")
            else:
                self.link.succeeded()
                return lease
        return permits.try_acquire(self.lock_dir, name, limit)

    def heartbeat(self, job_id: str) -> Releasable | None:
        """Marks ``job_id`` alive for other hosts' sweeps while held; ``None`` without Redis."""
        leases = self._leases()
        if leases is None:
            return None
        try:
            return leases.heartbeat(job_id)
        except ERRORS as exc:
            self.link.failed(exc, "heartbeat")
            return None

    def lapsed_jobs(self, job_ids: Iterable[str]) -> set[str]:
        """Jobs whose worker stopped renewing their heartbeat (empty without Redis)."""
        leases = self._leases()
        if leases is None:
            return set()
        try:
            return leases.lapsed(job_ids)
        except ERRORS as exc:
            self.link.failed(exc, "sweep")
            return set()

    @contextmanager
    def mutex(self, name: str) -> Iterator[None]:
        """A short critical section for all hosts (redis-py's expiring ``Lock``), else for this host."""
        leases = self._leases()
        lock = None
        if leases is not None:
            lock = leases.client.lock(
                f"{PREFIX}mutex:{name}",
                timeout=self.lease_seconds,
                sleep=0.01,
                blocking_timeout=self.lease_seconds,
            )
            try:
                if not lock.acquire():
                    lock = None  # held past its expiry: a stuck holder, go on host-locally
            except ERRORS as exc:
                self.link.failed(exc, "mutex")
                lock = None
        if lock is None:
            with permits.HostMutex(self.lock_dir, name):
                yield
            return
        try:
            yield
        finally:
            try:
                lock.release()
            except ERRORS:
                pass  # expired meanwhile, or Redis went away: the lock frees itself
