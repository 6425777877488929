"""Run small jobs off the response path (previews)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from gevent import monkey

log = logging.getLogger("photochanger.background")


def _guarded(fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except Exception:
            log.exception("background task failed", extra={"event": "background.failed"})

    return run


def spawn(fn: Callable[[], None]) -> None:
    """Start ``fn`` in a greenlet under gevent, else in a daemon thread."""
    if monkey.is_module_patched("socket"):
        import gevent

        gevent.spawn(_guarded(fn))
    else:
        threading.Thread(target=_guarded(fn), daemon=True).start()
