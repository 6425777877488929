"""Host-wide concurrency limits with ``flock``-ed lock files.

Each limit of N is N lock files; a request holds one of them for its whole
processing. ``flock`` locks conflict between separate ``open()`` calls even
inside one process, so they bound greenlets and gunicorn workers alike, and
the kernel releases them when a worker dies: a crash never leaks a permit.
"""

from __future__ import annotations

import fcntl
import os
import re
from types import TracebackType

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class Lease:
    """A held permit; release it by closing (or leaving the ``with`` block)."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_acquire(lock_dir: str, name: str, limit: int) -> Lease | None:
    """Take one of ``limit`` permits named ``name`` without waiting, or ``None``."""
    os.makedirs(lock_dir, exist_ok=True)
    safe = _SAFE.sub("_", name)
    for i in range(max(0, limit)):
        path = os.path.join(lock_dir, f"{safe}.{i}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Lease(fd)
    return None


class HostMutex:
    """A blocking host-wide mutex (used for short check-and-insert sections).

    The wait polls with short sleeps so that, under gevent, other greenlets
    of the worker keep running.
    """

    def __init__(self, lock_dir: str, name: str, sleep: float = 0.01) -> None:
        self._lock_dir = lock_dir
        self._name = name
        self._sleep = sleep
        self._lease: Lease | None = None

    def __enter__(self) -> HostMutex:
        import time

        while True:
            self._lease = try_acquire(self._lock_dir, self._name, 1)
            if self._lease is not None:
                return self
            time.sleep(self._sleep)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._lease is not None:
            self._lease.release()


__all__ = ["HostMutex", "Lease", "try_acquire"]
