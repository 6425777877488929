"""Run small jobs off the response path (gallery previews).

Under gevent a worker's CPU is shared by every request it serves, so deferred
work waits until the worker has had no ingest in flight for a short quiet
period: during a burst the booths get the CPU, and the previews are built in
the pause that follows. The queue is bounded; a preview dropped from it is built on its first read instead
(``media.previews.ensure_preview``), so nothing depends on it running.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from gevent import monkey

log = logging.getLogger("photochanger.infra.background")
T = TypeVar("T")

#: Deferred jobs kept per worker; beyond this the oldest is dropped.
MAX_PENDING = 200
#: How long a worker must have been without ingests before deferred work runs:
#: in a burst the next booth usually arrives within this, and a preview that
#: started would take a core away from it (in a thread, see ``media.previews``).
QUIET_SECONDS = 0.25
#: How long a worker must have been without ingests before it hands the memory
#: their big buffers left free back to the system (see :func:`release_free_memory`).
TRIM_AFTER_SECONDS = 10.0


def _guarded(fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except Exception:
            log.exception("background task failed", extra={"event": "background.failed"})

    return run


def _gevent_active() -> bool:
    return monkey.is_module_patched("socket")


def _start_thread(fn: Callable[[], None]) -> None:
    threading.Thread(target=_guarded(fn), daemon=True).start()


def spawn(fn: Callable[[], None]) -> None:
    """Start ``fn`` now: in a greenlet under gevent, else in a daemon thread."""
    if _gevent_active():
        import gevent

        gevent.spawn(_guarded(fn))
    else:
        _start_thread(fn)


class IdleQueue:
    """Jobs of one gevent worker that run one at a time while no ingest is in flight."""

    def __init__(
        self,
        max_pending: int = MAX_PENDING,
        cooperative: bool | None = None,
        quiet_seconds: float = QUIET_SECONDS,
        trim: Callable[[], None] | None = None,
        trim_after: float = TRIM_AFTER_SECONDS,
    ) -> None:
        #: ``None``: decide per call (gevent's monkey patching happens after import)
        self.cooperative = cooperative
        self.quiet_seconds = quiet_seconds
        #: run once per quiet spell of ``trim_after`` seconds after ingests (None: release_free_memory)
        self.trim = trim
        self.trim_after = trim_after
        self._trim_due = False
        self.last_busy = 0.0
        self.in_flight = 0
        self.pending: deque[Callable[[], None]] = deque(maxlen=max_pending)
        self.dropped = 0
        self._wakeup: Any = None
        self._runner: Any = None

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Mark an ingest in flight for the duration of the block."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self.last_busy = time.monotonic()
            if self._cooperative():
                self._trim_due = True
                self._ensure_runner()
                if self.in_flight == 0:
                    self._wakeup.set()

    def _cooperative(self) -> bool:
        return _gevent_active() if self.cooperative is None else self.cooperative

    def submit(self, fn: Callable[[], None]) -> None:
        if not self._cooperative():
            _start_thread(fn)  # threads: no event loop to keep free
            return
        if len(self.pending) == self.pending.maxlen:
            self.dropped += 1
            log.info("background.dropped", extra={"event": "background.dropped", "dropped": self.dropped})
        self.pending.append(_guarded(fn))
        self._ensure_runner()
        if self.in_flight == 0:
            self._wakeup.set()

    def _ensure_runner(self) -> None:
        import gevent
        from gevent.event import Event

        if self._wakeup is None:
            self._wakeup = Event()
        if self._runner is None or self._runner.dead:
            self._runner = gevent.spawn(self._run)

    def _run(self) -> None:
        import gevent

        while True:
            # Cooperative scheduling: nothing runs between a check and clear(),
            # so a wake-up cannot be lost.
            if self.in_flight or not (self.pending or self._trim_due):
                self._wakeup.clear()
                self._wakeup.wait()
                continue
            quiet = self.quiet_seconds if self.pending else self.trim_after
            quiet_left = quiet - (time.monotonic() - self.last_busy)
            if quiet_left > 0:
                self._wakeup.clear()
                self._wakeup.wait(quiet_left)
                continue
            if self.pending:
                self.pending.popleft()()
            else:
                self._trim_due = False
                _guarded(self.trim or release_free_memory)()
            gevent.sleep(0)  # let a request that arrived meanwhile go first


_queue = IdleQueue()


def when_idle(fn: Callable[[], None]) -> None:
    """Run ``fn`` once this worker has no ingest in flight (see :class:`IdleQueue`).

    Submitted with an application context active, ``fn`` runs in a fresh one of
    the same app (its own database session, removed afterwards).
    """
    _queue.submit(_in_app_context(fn))


def _in_app_context(fn: Callable[[], None]) -> Callable[[], None]:
    from flask import current_app, has_app_context

    if not has_app_context():
        return fn
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        with app.app_context():
            fn()

    return run


def ingests_in_flight() -> int:
    """How many ingests this worker is serving now."""
    return _queue.in_flight


def ingest_in_flight() -> Any:
    """Context manager: an ingest is being served by this worker."""
    return _queue.busy()


def release_free_memory() -> None:
    """Hand the heap memory freed since the last call back to the system.

    A worker's big buffers (a 20 MB upload, its base64, a provider's answer)
    come from glibc's heap, and freed, they stay in its arenas: a worker that
    took large photos kept that memory resident for good, and the next burst's
    peak came on top of it. ``malloc_trim`` returns the free pages; it runs in
    an OS thread (it walks the arenas) once a worker has been quiet for
    :data:`TRIM_AFTER_SECONDS`. A no-op where the C library has no ``malloc_trim``.
    """
    trim = _malloc_trim()
    if trim is not None:
        in_thread(trim, 0)()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return cast(Callable[[int], int], ctypes.CDLL(None).malloc_trim)
    except (AttributeError, OSError):
        return None


def in_thread(fn: Callable[..., T], *args: Any) -> Callable[[], T]:
    """Start ``fn(*args)`` in a real OS thread; returns a function that waits for its result.

    Under gevent the wait is cooperative (other greenlets run, a
    ``gevent.Timeout`` interrupts it) and CPU work that releases the GIL, such
    as Pillow's decoders, runs in parallel with the worker's event loop.
    Without gevent ``fn`` simply runs now. Exceptions are re-raised by the wait.
    """
    if _gevent_active():
        import gevent

        pending = gevent.get_hub().threadpool.spawn(fn, *args)
        return lambda: cast(T, pending.get())
    try:
        value = fn(*args)
    except Exception as exc:  # noqa: BLE001 - handed to the caller by the wait
        error = exc

        def fail() -> T:
            raise error

        return fail
    return lambda: value


#: How much lower than the event loop's the priority of CPU-bound image work is:
#: the loop thread then gets a core first, so a worker rendering big photos
#: still answers its other requests at once.
CPU_NICE = 10
_niced = threading.local()


@functools.cache
def _cpu_pool() -> Any:
    from gevent.threadpool import ThreadPool

    return ThreadPool(maxsize=os.cpu_count() or 2)


def in_cpu_thread(fn: Callable[..., T], *args: Any) -> Callable[[], T]:
    """:func:`in_thread` for CPU-bound work (decoding, filtering, encoding images).

    It runs in a pool of one thread per core, at a lower priority than the
    event loop's thread: more threads than cores would only share the cores
    and take them from the loop. Without gevent ``fn`` simply runs now.
    """
    if not _gevent_active():
        return in_thread(fn, *args)
    pending = _cpu_pool().spawn(_at_low_priority, fn, *args)
    return lambda: cast(T, pending.get())


def _at_low_priority(fn: Callable[..., T], *args: Any) -> T:
    if not getattr(_niced, "done", False):
        _niced.done = True
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CPU_NICE)
        except (OSError, AttributeError):
            pass  # no per-thread priority here: the pool's size still leaves the loop a share
    return fn(*args)
