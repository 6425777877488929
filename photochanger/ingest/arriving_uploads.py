"""A cap on uploads still arriving, per client address and in total on this host.

An upload holds a connection (and a greenlet) for as long as its body takes
to arrive, and anyone on the studio network can open many and send nothing
(issue 20, row 2). Beyond ``UPLOADS_PER_CLIENT`` uploads still arriving from
one address, or ``UPLOADS_IN_FLIGHT`` on the host, an upload is refused at
once, before its body is read: 429 ``too_many_uploads`` or 503
``uploads_busy``, with ``Retry-After``. The counts are ``flock`` permits
(:mod:`~photochanger.infra.permits`), so they are shared by every worker and a
dead worker's are released by the kernel. An upload stops counting once its
body has all arrived: a booth waiting for the provider is limited by the
slot and provider permits instead.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from flask import Request, current_app

from photochanger.errors import ApiError
from photochanger.infra.body_guard import close_without_drain
from photochanger.infra.permits import Lease, try_acquire

#: Seconds a refused client is asked to wait.
RETRY_AFTER = 5
#: Addresses share this many sets of lock files: however many addresses
#: connect, the lock folder does not grow (two clients rarely share one).
_ADDRESS_BUCKETS = 4096


class ArrivingUploads:
    """The permits one upload holds while its body arrives."""

    def __init__(self, lock_dir: str, config: Mapping[str, Any]) -> None:
        self.lock_dir = lock_dir
        self.per_client = int(config["UPLOADS_PER_CLIENT"])
        self.in_flight = int(config["UPLOADS_IN_FLIGHT"])
        self._leases: list[Lease] = []

    @classmethod
    def admit_request(cls, request: Request, lock_dir: str) -> ArrivingUploads:
        """This request's count, taken before anything else is done for it; or the refusal.

        A refused request's connection is closed after the answer, the rest of its body unread.
        """
        uploads = cls(lock_dir, current_app.config)
        try:
            uploads.admit(request.remote_addr or "unknown")
        except ApiError:
            close_without_drain(request.environ)
            raise
        return uploads

    def admit(self, address: str) -> None:
        """Count this upload, or raise 429 ``too_many_uploads`` / 503 ``uploads_busy``."""
        bucket = zlib.crc32(address.encode("utf-8")) % _ADDRESS_BUCKETS
        mine = try_acquire(self.lock_dir, f"arriving-{bucket}", self.per_client)
        if mine is None:
            raise ApiError("too_many_uploads", retry_after=RETRY_AFTER)
        total = try_acquire(self.lock_dir, "arriving-all", self.in_flight)
        if total is None:
            mine.release()
            raise ApiError("uploads_busy", retry_after=RETRY_AFTER)
        self._leases = [mine, total]

    def done(self) -> None:
        """The body has all arrived, or the request is over."""
        leases, self._leases = self._leases, []
        for lease in leases:
            lease.release()
