"""A locked or stopped database: a quick 503 ``database_unavailable``, never a 500 or a hang."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.support.app import make_app, make_env
from tests.support.app import migrate as _migrate
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.live_server import LiveServer
from tests.support.postgres import PostgresCluster

#: Holds SQLite's write lock for ``argv[2]`` seconds, as a cron job or a backup tool could.
_LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE app_settings SET version = version WHERE 0")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _photo(n: int) -> bytes:
    """A photo of its own: an earlier job with the same bytes would be replayed, not written."""
    return jpeg_bytes(color=(n % 256, 60, 90))


def _assert_unavailable(resp: requests.Response) -> None:
    assert resp.status_code == 503, (resp.status_code, resp.headers)
    body = resp.json()
    assert body["failure_reason"] == "database_unavailable"
    assert body["message"].startswith("База данных")
    assert resp.headers["Retry-After"].isdigit()


def test_sqlite_held_locked_answers_503_fast_and_the_worker_keeps_serving(app, app_env, live_server):
    if not app_env["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("SQLite's lock")
    server = live_server(workers=1)  # one worker: anything blocking it blocks every request
    assert post_photo(server.url, _photo(0)).status_code == 200  # warm: connections open
    path = app_env["DATABASE_URL"].removeprefix("sqlite:///")
    locker = subprocess.Popen([sys.executable, "-c", _LOCKER, path, "20"], stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        answers: list[tuple[float, requests.Response]] = []

        def ingest(n: int) -> None:
            started = time.monotonic()
            # One booth per slot, as in a studio: a slot's ingests queue behind its mutex.
            resp = post_photo(server.url, _photo(n), f"slot-00{n}", timeout=40)
            answers.append((time.monotonic() - started, resp))

        booths = [threading.Thread(target=ingest, args=(n,)) for n in (1, 2, 3)]
        for booth in booths:
            booth.start()
        time.sleep(0.3)  # the ingests are waiting for the lock now
        health_times = []
        for _ in range(5):
            started = time.monotonic()
            health = requests.get(f"{server.url}/healthz", timeout=40)
            health_times.append(time.monotonic() - started)
            assert health.status_code == 200, health.text  # WAL readers are not blocked
        for booth in booths:
            booth.join()
        assert max(health_times) < 1.0, health_times
        for elapsed, resp in answers:
            _assert_unavailable(resp)
            assert elapsed < 2.5, elapsed
    finally:
        locker.kill()
        locker.wait()
    assert post_photo(server.url, _photo(4)).status_code == 200  # lock gone: back to normal


@pytest.fixture
def stopped_postgres(tmp_path, monkeypatch):
    """A live server (2 workers) on a private PostgreSQL server that is then stopped."""
    cluster = PostgresCluster()
    cluster.start()
    try:
        url = cluster.url(cluster.create_database())
        _migrate(url, str(tmp_path / "scratch"))
        env = make_env(tmp_path / "instance", url)
        make_app(env, monkeypatch)
        server = LiveServer(env, workers=2)
    except BaseException:
        cluster.stop()
        raise
    try:
        assert post_photo(server.url, jpeg_bytes()).status_code == 200  # pooled connections exist
        cluster.stop()
        yield server
    finally:
        server.stop()


def test_stopped_postgresql_answers_503_on_every_route_and_healthz_says_why(stopped_postgres):
    server = stopped_postgres
    for _ in range(2):  # both workers, pooled connections and fresh ones
        started = time.monotonic()
        _assert_unavailable(post_photo(server.url, _photo(5), timeout=30))
        assert time.monotonic() - started < 2.0
        started = time.monotonic()
        _assert_unavailable(requests.get(f"{server.url}/api/jobs/{'a' * 32}", timeout=30))
        health = requests.get(f"{server.url}/healthz", timeout=30)
        assert time.monotonic() - started < 2.0
        assert health.status_code == 503, health.text
        body = health.json()
        assert body["checks"]["database"]["status"] == "fail"
        assert "database" in body["failing"]
    page = requests.get(f"{server.url}/admin/login", timeout=30, headers={"Accept": "text/html"})
    assert page.status_code in (200, 503)  # the login page needs no database; never a 500
