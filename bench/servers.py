"""The processes under test: PhotoChanger (the real gunicorn + gevent server),
the bare echo baseline, the provider mock, nginx and a private PostgreSQL.

Everything listens on 127.0.0.1 on free ports and is stopped by :class:`Stack`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from typing import Any

import requests

from tests.support.live_server import LiveServer
from tests.support.net import free_port
from tests.support.nginx import NGINX, NginxServer
from tests.support.postgres import PostgresCluster

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INGEST_PASSWORD = "bench-123456"
ADMIN_USER, ADMIN_PASSWORD = "bench", "bench-admin-password"
GEMINI_KEY = "bench-gemini-key"
JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789abcdef"


def _wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early (code {proc.returncode})")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:  # refused, or accepted while the worker still boots
            time.sleep(0.1)
    raise RuntimeError(f"{what} not ready in {timeout}s")


def children_of(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (gunicorn workers of a master)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry))
    return found


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextlib.contextmanager
def app_context_of(env: Mapping[str, str]) -> Iterator[None]:
    """Inside the app context of a PhotoChanger built from ``env``; the process's environment is
    restored and the app's connections closed afterwards."""
    from photochanger import create_app
    from photochanger.extensions import db

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with create_app().app_context():
            yield
            db.session.remove()
            db.engine.dispose()
    finally:
        os.environ.clear()
        os.environ.update(saved)


class BenchServer(LiveServer):
    """The project's live server, with a readiness wait that tolerates a loaded machine."""

    def _wait_ready(self, workers: int, timeout: float = 90.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log()[-3000:]}")
            try:
                r = requests.get(f"{self.url}/api/jobs/readiness-probe", timeout=5)
                if r.status_code == 404 and self.log().count("Worker ready") >= workers:
                    return
            except requests.RequestException:  # refused, or accepted while workers still boot
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn not ready in {timeout}s:\n{self.log()[-3000:]}")


class Stack:
    """Owns a scratch folder and every process started for one benchmark run."""

    def __init__(self, db: str, workers: int, keep: bool = False) -> None:
        self.dir = tempfile.mkdtemp(prefix="photochanger-bench-")
        self.db = db
        self.workers = workers
        self.keep = keep
        self.procs: list[subprocess.Popen[bytes]] = []
        self.servers: list[BenchServer] = []
        self.pg: PostgresCluster | None = None
        self.nginxes: list[NginxServer] = []

    # -- databases -----------------------------------------------------------

    def postgres(self) -> PostgresCluster:
        if self.pg is None:
            self.pg = PostgresCluster()
            self.pg.start()
        return self.pg

    def database_pids(self) -> list[int]:
        """The private PostgreSQL server's processes (none on SQLite, whose work is the workers')."""
        if self.pg is None:
            return []
        postmaster = self.pg.server_pid()
        return [postmaster, *children_of(postmaster)]

    def new_database(self, engine: str | None = None) -> str:
        engine = engine or self.db
        if engine == "postgresql":
            pg = self.postgres()
            return pg.url(pg.create_database())
        return f"sqlite:///{tempfile.mkstemp(prefix='bench-', suffix='.sqlite', dir=self.dir)[1]}"

    def app_env(self, name: str, database_url: str, **extra: str) -> dict[str, str]:
        instance = os.path.join(self.dir, name)
        os.makedirs(instance, exist_ok=True)
        creds = os.path.join(instance, "credentials.json")
        return {
            "DATABASE_URL": database_url,
            "MEDIA_ROOT": os.path.join(instance, "media"),
            "LOCK_DIR": os.path.join(instance, "locks"),
            "INSTANCE_PATH": instance,
            "JWT_SECRET_KEY": JWT_SECRET,
            "ADMIN_CREDENTIALS_FILE": creds,
            "GEMINI_API_KEY": GEMINI_KEY,
            "LOG_LEVEL": "INFO",  # production default; also LiveServer waits for "Worker ready" lines
            # The bench's load comes from one address and hundreds of bursts at once.
            "UPLOADS_PER_CLIENT": "10000",
            "UPLOADS_IN_FLIGHT": "10000",
            **extra,
        }

    @staticmethod
    def prepare(env: Mapping[str, str], settings: Mapping[str, Any], gemini_slots: bool = True) -> None:
        """Migrate, seed 15 slots (Gemini when asked), store settings and an admin account."""
        from flask_migrate import upgrade

        from photochanger.auth.passwords import hash_password
        from photochanger.extensions import db
        from photochanger.models import Slot
        from photochanger.runtime import services
        from photochanger.settings.store import save_setting
        from photochanger.slots.catalog import seed_slots

        with app_context_of(env):
            upgrade()
            seed_slots(services().drivers)
            save_setting("ingest_password_hash", hash_password(INGEST_PASSWORD), "bench")
            for key, value in settings.items():
                save_setting(key, value, "bench")
            if gemini_slots:
                for slot in db.session.query(Slot):
                    slot.provider, slot.operation = "gemini", "image_edit"
                    slot.settings_json = {"prompt": "Сделай фон пляжем"}
                    slot.version += 1
            db.session.commit()
        with open(env["ADMIN_CREDENTIALS_FILE"], "w") as fh:
            json.dump(
                {"admins": [{"username": ADMIN_USER, "password_hash": hash_password(ADMIN_PASSWORD, 4)}]}, fh
            )

    # -- servers -------------------------------------------------------------

    def photochanger(self, env: Mapping[str, str]) -> BenchServer:
        server = BenchServer(env, workers=self.workers)
        self.servers.append(server)
        return server

    def _spawn(self, args: list[str], env: Mapping[str, str], log: str) -> subprocess.Popen[bytes]:
        with open(os.path.join(self.dir, log), "wb") as out:
            proc = subprocess.Popen(
                args, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)
        return proc

    def echo(self, mock_url: str) -> tuple[str, subprocess.Popen[bytes]]:
        """The baselines (``bench/echo_app.py``): ``/echo``, and ``/relay`` calling ``mock_url``."""
        port = free_port()
        relay_dir = os.path.join(self.dir, "relay")
        for kind in ("inputs", "results"):
            os.makedirs(os.path.join(relay_dir, kind), exist_ok=True)
        proc = self._spawn(
            [sys.executable, "-m", "gunicorn", "-c", "bench/echo_gunicorn.conf.py", "bench.echo_app:app"],
            {
                "PORT": str(port),
                "WEB_CONCURRENCY": str(self.workers),
                "BENCH_MOCK_URL": mock_url,
                "BENCH_RELAY_DIR": relay_dir,
            },
            "echo.log",
        )
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/healthz", proc, "echo server")
        time.sleep(0.5)  # let every worker boot
        return url, proc

    def mock_provider(self, delay: float = 0.0) -> str:
        port = free_port()
        self.mock_proc = proc = self._spawn(
            [sys.executable, "-m", "bench.mock_provider", "--port", str(port), "--delay", str(delay)],
            {},
            "mock.log",
        )
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/_bench/count", proc, "provider mock")
        return url

    def nginx(self, upstream_port: int, media_root: str) -> NginxServer | None:
        """The shipped nginx/photochanger.conf (rendered as its test does) before ``upstream_port``."""
        if not os.path.exists(NGINX) or not os.path.exists(os.path.join(ROOT, "nginx", "photochanger.conf")):
            return None
        server = NginxServer(os.path.join(self.dir, "nginx"), f"127.0.0.1:{upstream_port}", media_root)
        self.nginxes.append(server)
        return server

    def stop(self) -> None:
        for nginx in self.nginxes:
            nginx.stop()
        for server in self.servers:
            server.stop()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.pg is not None:
            self.pg.stop()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def cpu_times(pids: list[int]) -> tuple[float, float]:
    """User and system CPU seconds consumed so far by ``pids`` (from ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11]) / tick
        system += int(fields[12]) / tick
    return user, system


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by ``pids`` (from ``/proc``)."""
    return sum(cpu_times(pids))


def settle(master_pid: int, busy_share: float = 0.05, window: float = 0.5, limit: float = 60.0) -> float:
    """Wait until a server's workers are (nearly) idle; returns the seconds waited.

    PhotoChanger builds gallery previews once a worker has no ingest in flight;
    measuring the next target while that deferred work still runs would charge
    it to the wrong server.
    """
    start = time.monotonic()
    while time.monotonic() - start < limit:
        pids = children_of(master_pid)
        before = cpu_seconds(pids)
        time.sleep(window)
        if cpu_seconds(pids) - before < busy_share * window:
            break
    return time.monotonic() - start


def _meminfo_kb(field: str) -> int:
    """One field of ``/proc/meminfo`` (``Cached``, ``MemAvailable`` ...), in KB; 0 when absent."""
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def page_cache_bytes() -> int:
    """The machine's page cache (``Cached`` in ``/proc/meminfo``), in bytes."""
    return _meminfo_kb("Cached") * 1024


_TOUCH = """
import statistics, time
chunk = 64 * 1024 * 1024
held, costs = [], []
for _ in range({size_mb} // 64):
    start = time.perf_counter()
    held.append(b"\\x01" * chunk)
    costs.append(time.perf_counter() - start)
del held
start = time.perf_counter()
again = b"\\x01" * chunk
print(statistics.median(costs[len(costs) // 2 :]) / 64, (time.perf_counter() - start) / 64)
"""


def first_touch_ms_per_mb(size_mb: int = 3072) -> tuple[float, float]:
    """Milliseconds per MB to fill memory the machine hands out fresh, and re-filled at once.

    ``size_mb`` is filled in 64 MB pieces held together, and the first number is
    the median of the second half of them. On a virtual machine whose host backs
    guest memory lazily and takes freed memory back (free page reporting), a
    page the guest touches anew costs a host page fault; only the memory freed
    last is still backed, which is why the first half is not counted. The page
    cache, growing by the files a server keeps, pays the same price.
    """
    out = subprocess.run(
        [sys.executable, "-c", _TOUCH.format(size_mb=max(128, size_mb))],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.split()
    return float(out[0]) * 1000, float(out[1]) * 1000


def mem_available_mb() -> int:
    """``MemAvailable`` of ``/proc/meminfo``, in MB."""
    return _meminfo_kb("MemAvailable") // 1024


def fill_page_cache(path: str, size_mb: int) -> float:
    """Write ``size_mb`` MB to ``path`` and flush it to disk; returns the seconds taken.

    A server that has run for a while has a page cache as big as the RAM
    allows, and its new files take the place of old cached ones. A freshly
    booted virtual machine has free memory instead, and on one whose host
    backs memory lazily (see :func:`first_touch_ms_per_mb`) every page the cache
    grows into costs a host page fault: the first cells of a run would pay it
    and the later ones not, for whichever target happened to run first. Filling
    the cache with a file kept until the run ends puts every cell in the steady
    state. The flush leaves the pages clean, so reclaiming them costs no writes.
    """
    start = time.monotonic()
    block = os.urandom(1 << 20)
    try:
        with open(path, "wb") as fh:
            for _ in range(size_mb):
                fh.write(block)
            fh.flush()
            os.fdatasync(fh.fileno())
    except OSError:  # the disk filled up after all: give the space back, run unfilled
        os.unlink(path)
        raise
    return time.monotonic() - start
