"""Servers the suite runs as child processes: wait until they answer, stop them."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable


def wait_ready(
    proc: subprocess.Popen,
    probe: Callable[[], object],
    what: str,
    errors: tuple[type[Exception], ...],
    details: Callable[[], str] = str,
    timeout: float = 10.0,
) -> None:
    """Call ``probe`` until it stops raising one of ``errors``; fail if ``proc`` exits first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{details()}")
        try:
            probe()
            return
        except errors:
            time.sleep(0.05)
    raise RuntimeError(f"{what} not ready in {timeout}s:\n{details()}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Ask ``proc`` to stop with ``sig``; kill it if it has not within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
