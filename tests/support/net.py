"""Loopback helpers for tests."""

from __future__ import annotations

import random
import socket

#: Below Linux's ephemeral range (32768+): outgoing connections never take these ports, so a port
#: picked here stays free until its server binds it, even while the server is slow to start.
_LOW, _HIGH = 12000, 32000
#: Not the global ``random``: Hypothesis seeds that one, and parallel runs would pick the same ports.
_rng = random.SystemRandom()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, outside the ephemeral range."""
    for _ in range(200):
        port = _rng.randint(_LOW, _HIGH)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {_LOW} and {_HIGH}")
