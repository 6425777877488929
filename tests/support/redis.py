"""A private ``redis-server`` on a free loopback port, for tests of limits shared between hosts."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest
import redis

from . import processes
from .net import free_port


class RedisServer:
    """``redis-server`` without persistence in a fresh folder; ``url`` is its ``redis://`` address."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: apt-get install redis-server (make system-deps)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="photochanger-redis-")
        self._binary = binary
        self.start()

    def start(self) -> None:
        """Run the server (again, after :meth:`halt`) on the same port, empty."""
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [self._binary, *args, "--dir", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def halt(self) -> None:
        """Stop the server process, keeping its port and folder for :meth:`start` (an outage)."""
        processes.stop(self.proc)

    def _wait_ready(self) -> None:
        processes.wait_ready(self.proc, self.client().ping, "redis-server", (redis.ConnectionError,))

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2)

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One ``redis-server`` for the test session (tests use their own keys or flush it)."""
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()
