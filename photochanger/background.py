"""Run small jobs off the response path (gallery previews).

Under gevent a worker's CPU is shared by every request it serves, so deferred
work waits until the worker has had no ingest in flight for a short quiet
period: during a burst the booths get the CPU, and the previews are built in
the pause that follows. The queue is bounded; a preview dropped from it is built on its first read instead
(``media.previews.ensure_preview``), so nothing depends on it running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from gevent import monkey

log = logging.getLogger("photochanger.background")
T = TypeVar("T")

#: Deferred jobs kept per worker; beyond this the oldest is dropped.
MAX_PENDING = 200
#: How long a worker must have been without ingests before deferred work runs:
#: in a burst the next booth usually arrives within this, and a preview that
#: started would take a core for ~45 ms (a 1.2 MB PNG answer; in a thread, see
#: ``media.previews``).
QUIET_SECONDS = 0.25


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
    ) -> None:
        #: ``None``: decide per call (gevent's monkey patching happens after import)
        self.cooperative = cooperative
        self.quiet_seconds = quiet_seconds
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
            if self.in_flight == 0 and self.pending and self._wakeup is not None:
                self._wakeup.set()

    def submit(self, fn: Callable[[], None]) -> None:
        cooperative = _gevent_active() if self.cooperative is None else self.cooperative
        if not cooperative:
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
            # Cooperative scheduling: nothing runs between this check and
            # clear(), so a wake-up cannot be lost.
            if not self.pending or self.in_flight:
                self._wakeup.clear()
                self._wakeup.wait()
                continue
            quiet_left = self.quiet_seconds - (time.monotonic() - self.last_busy)
            if quiet_left > 0:
                gevent.sleep(quiet_left)
                continue
            self.pending.popleft()()
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


def ingest_in_flight() -> Any:
    """Context manager: an ingest is being served by this worker."""
    return _queue.busy()


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
