"""The real server under test: gunicorn with gevent workers in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping

import requests

from .net import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class LiveServer:
    """``gunicorn -c gunicorn.conf.py wsgi:app`` on a free loopback port."""

    def __init__(self, env: Mapping[str, str], workers: int = 1, log_path: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or os.path.join(
            env.get("INSTANCE_PATH", "/tmp"), f"gunicorn-{self.port}.log"
        )
        full_env = {
            **os.environ,
            **env,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_ACCESSLOG": "",
            "PYTHONUNBUFFERED": "1",
        }
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready(workers)

    def _wait_ready(self, workers: int, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log()}")
            try:
                r = requests.get(f"{self.url}/api/jobs/readiness-probe", timeout=1)
                # "Worker ready" is logged once a worker has built the app and is
                # about to accept: a burst sent earlier could all land on one worker.
                if r.status_code == 404 and self.log().count("Worker ready") >= workers:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # not bound yet, or bound while the workers still boot
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def pids_that_logged(self, *events: str, since: int = 0) -> set[int]:
        """Worker pids whose JSON log lines include one of ``events`` (e.g. ``ingest.done``).

        ``since``: only lines after that many characters of the log (a ``len(log())`` taken before).
        """
        pids = set()
        for line in self.log()[since:].splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("event") in events:
                    pids.add(int(record["pid"]))
        return pids

    def rounds_until_shared(self, *events: str, rounds: int = 4) -> Iterator[int]:
        """Round numbers for a loop that stops after the first round whose ``events`` two workers logged.

        Which worker accepts a connection is up to the kernel: on a busy machine one
        worker can take a whole round, which proves nothing about what the workers
        share, so the caller's loop body runs again (with fresh state of its own).
        """
        for n in range(rounds):
            start = len(self.log())
            yield n
            if len(self.pids_that_logged(*events, since=start)) >= 2:
                return
        raise AssertionError(f"one worker logged all {events} of {rounds} rounds: nothing shared was tested")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # quick shutdown: tests own no live traffic
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
