"""Host-wide concurrency limits with ``flock``-ed lock files.

Each limit of N is N lock files; a request holds one of them for its whole
processing. ``flock`` locks conflict between separate ``open()`` calls even
inside one process, so they bound greenlets and gunicorn workers alike, and
the kernel releases them when a worker dies: a crash never leaks a permit.
"""

from __future__ import annotations

import fcntl
import os
import random
import re
from types import TracebackType

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class Lease:
    """A held permit; release it by closing (or leaving the ``with`` block)."""

    def __init__(self, fd: int, held: set[int], index: int) -> None:
        self._fd: int | None = fd
        self._held = held  # this process's permit numbers for the name (see try_acquire)
        self._index = index

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
            self._held.discard(self._index)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


#: Permit numbers held by this process, per lock name: a greenlet skips the
#: ones its own worker holds without a system call (``flock`` stays the
#: authority between processes).
_held_here: dict[str, set[int]] = {}
#: Start window per permit held here (see try_acquire): with W workers each
#: holding h, at most W*h of 16*(h+1) numbers are taken, so a random start
#: usually lands on a free one.
_WINDOW_PER_HELD = 16


def _open_lock_file(lock_dir: str, path: str) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o600)
    except FileNotFoundError:  # first use, or the folder was removed meanwhile
        os.makedirs(lock_dir, exist_ok=True)
        return os.open(path, flags, 0o600)


def try_acquire(lock_dir: str, name: str, limit: int) -> Lease | None:
    """Take one of ``limit`` permits named ``name`` without waiting, or ``None``.

    The search starts at a random permit: when every caller started at the
    first one, the n-th of n concurrent requests opened and tried n lock files
    (a burst made system calls grow with the square of its size). The random start
    is drawn from a window that grows with the permits this worker holds, so
    lock files are created in proportion to the concurrency actually reached,
    not to a generous limit (a new file is an inode allocation, far dearer than
    opening an existing one), while held permits stay sparse in the window
    for every worker alike.
    """
    if limit <= 0:
        return None
    safe = _SAFE.sub("_", name)
    held = _held_here.setdefault(os.path.join(lock_dir, safe), set())
    start = random.randrange(min(limit, _WINDOW_PER_HELD * (len(held) + 1)))
    for step in range(limit):
        index = (start + step) % limit
        if index in held:
            continue
        fd = _open_lock_file(lock_dir, os.path.join(lock_dir, f"{safe}.{index}.lock"))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        held.add(index)
        return Lease(fd, held, index)
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
