"""Two app hosts behind one nginx behave as one service (issue 22).

Two gunicorn masters with separate instance folders (so separate lock files,
metrics and upload spools) share one PostgreSQL database, one Redis, one S3
bucket on a real SeaweedFS server and a real nginx in front. Each test drives
the hosts directly or through nginx and checks a promise that used to stop at
one host. The tests share the set-up and
run in file order: the last one stops host A.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask

from photochanger.extensions import db
from photochanger.models import JobHistory, JobStatus
from tests.auth.guessing import admin_login, login, throttled
from tests.support.app import dispose_app, make_app, make_env
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.live_server import LiveServer
from tests.support.mock_gemini import MockGemini
from tests.support.mockserver import step
from tests.support.nginx import NGINX, NginxServer
from tests.support.redis import RedisServer
from tests.support.s3 import S3Server
from tests.support.setup import gemini_slot, set_settings
from tests.support.stack import GEMINI_TEST_KEY

pytestmark = [
    pytest.mark.nginx,
    pytest.mark.db,
    pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed (make system-deps)"),
]

#: Short leases and sweeps: a killed worker's job is failed within seconds.
LEASE_SECONDS = 3
SWEEP_SECONDS = 1


def shared_media_env(s3: S3Server) -> dict[str, str]:
    """The media store every host uses: one bucket, downloads streamed by nginx from S3 (accel)."""
    return {**s3.env(s3.make_bucket()), "S3_DOWNLOADS": "accel"}


@dataclass
class TwoHosts:
    app: Flask  # in-process, on the shared database: arranges slots and settings, reads jobs
    a: LiveServer
    b: LiveServer
    nginx: NginxServer
    redis: RedisServer
    gemini: MockGemini

    def running_jobs(self, slot_id: str) -> list[str]:
        with self.app.app_context():
            ids = db.session.execute(
                db.select(JobHistory.job_id).where(
                    JobHistory.slot_id == slot_id, JobHistory.status.in_(JobStatus.RUNNING)
                )
            ).scalars()
            return list(ids)


@pytest.fixture(scope="module")
def hosts(request, database_factory, tmp_path_factory, s3_server) -> Iterator[TwoHosts]:
    if request.config.getoption("--db") != "postgresql":
        pytest.skip("two hosts share a PostgreSQL server: runs in the PostgreSQL pass (-m db)")
    url = database_factory()
    base = tmp_path_factory.mktemp("two-hosts")
    media = shared_media_env(s3_server)
    redis = RedisServer()
    try:
        with pytest.MonkeyPatch.context() as mp, MockGemini(api_key=GEMINI_TEST_KEY) as gemini:
            common = {
                **media,
                "REDIS_URL": redis.url,
                "REDIS_LEASE_SECONDS": str(LEASE_SECONDS),
                "JOB_SWEEP_SECONDS": str(SWEEP_SECONDS),
                "TRUSTED_PROXY_COUNT": "1",
                "GEMINI_API_BASE": gemini.url,
                "GEMINI_API_KEY": GEMINI_TEST_KEY,
            }
            env_a = {**make_env(base / "host-a", url), **common}
            env_b = {**make_env(base / "host-b", url), **common}
            app = make_app(env_a, mp)
            with ThreadPoolExecutor(2) as pool:  # the two masters boot side by side
                a, b = pool.map(lambda env: LiveServer(env, workers=2), (env_a, env_b))
            upstreams = [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"]
            # No host's local folder is nginx's: every download is fetched from the bucket.
            nginx = NginxServer(str(base / "nginx"), upstreams, str(base / "no-local-media"))
            try:
                yield TwoHosts(app, a, b, nginx, redis, gemini)
            finally:
                nginx.stop()
                a.stop()
                b.stop()
                dispose_app(app)
    finally:
        redis.stop()
        database_factory.drop(url)


def _photo(n: int) -> bytes:
    """A photo of its own: the same bytes in one slot would be answered as a replay."""
    return jpeg_bytes(320, 240, color=(n % 256, (n * 7) % 256, 90))


def _token(url: str) -> dict[str, str]:
    resp = admin_login(url, "198.51.100.1")
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def _wait(what: str, check: Any, timeout: float) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_settings_changed_through_host_a_apply_on_host_b_at_its_next_request(hosts):
    gemini_slot(hosts.app, "slot-002")
    for n in range(2):  # both of B's workers may have read (and cached) the slot
        assert post_photo(hosts.b.url, _photo(n), "slot-002").status_code == 200
    slot_url, headers = f"{hosts.a.url}/api/slots/slot-002", _token(hosts.a.url)
    put = requests.put(slot_url, json={"is_active": False}, headers=headers, timeout=10)
    assert put.status_code == 200, put.text
    for n in range(2, 4):
        resp = post_photo(hosts.b.url, _photo(n), "slot-002")
        assert resp.status_code == 404 and resp.json()["failure_reason"] == "slot_inactive", resp.text


def test_a_slot_limit_of_two_holds_across_both_hosts(hosts):
    gemini_slot(hosts.app, "slot-003")
    set_settings(hosts.app, concurrency_per_slot=2)
    hosts.gemini.reset()
    hosts.gemini.enqueue(step("hang", seconds=4), step("hang", seconds=4))
    answers: dict[str, int] = {}

    def send(name: str, url: str, n: int) -> None:
        answers[name] = post_photo(url, _photo(n), "slot-003").status_code

    slow = [
        threading.Thread(target=send, args=(name, url, n))
        for name, url, n in (("a", hosts.a.url, 10), ("b", hosts.b.url, 11))
    ]
    for thread in slow:
        thread.start()
    _wait("two running jobs", lambda: len(hosts.running_jobs("slot-003")) == 2, 10)
    # The third concurrent ingest is refused wherever it lands.
    for n, url in enumerate((hosts.a.url, hosts.b.url, hosts.nginx.url), start=12):
        resp = post_photo(url, _photo(n), "slot-003")
        assert resp.status_code == 429, resp.text
        assert resp.json()["failure_reason"] == "slot_busy"
    for thread in slow:
        thread.join(30)
    assert answers == {"a": 200, "b": 200}
    assert post_photo(hosts.nginx.url, _photo(14), "slot-003").status_code == 200  # free again


def test_login_failures_on_both_hosts_count_together(hosts):
    attacker = "203.0.113.90"
    for i in range(5):
        assert login(hosts.a.url, f"guess-{i}", attacker).status_code == 401
        assert login(hosts.b.url, f"guess-{i}", attacker).status_code == 401
    throttled(admin_login(hosts.a.url, attacker))
    throttled(admin_login(hosts.b.url, attacker))
    assert hosts.redis.client().keys("*login*")  # counted in the shared Redis, not in lock files


def _workers(master_pid: int) -> list[int]:
    with open(f"/proc/{master_pid}/task/{master_pid}/children") as fh:
        return [int(pid) for pid in fh.read().split()]


def _post_ignoring_reset(url: str, photo: bytes, slot_id: str) -> None:
    try:
        post_photo(url, photo, slot_id, timeout=60)
    except requests.RequestException:
        pass  # the worker died mid-answer


def test_a_worker_killed_on_host_a_leaves_no_job_stuck(hosts):
    gemini_slot(hosts.app, "slot-004")
    hosts.gemini.reset()
    hosts.gemini.enqueue(step("hang", seconds=40))  # far past the lease: only the worker's death ends it
    booth = threading.Thread(target=_post_ignoring_reset, args=(hosts.a.url, _photo(20), "slot-004"))
    booth.start()
    job_id = _wait("a running job", lambda: hosts.running_jobs("slot-004"), 10)[0]
    for pid in _workers(hosts.a.proc.pid):
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()

    def finished() -> dict | None:
        body = requests.get(f"{hosts.b.url}/api/jobs/{job_id}", timeout=5).json()
        return body if body["status"] not in ("pending", "processing") else None

    status = _wait("the killed worker's job failed", finished, 20)
    assert (status["status"], status["failure_reason"]) == ("failed", "interrupted")
    # its heartbeat lapsed and host B's sweep failed it, long before its deadline
    assert time.monotonic() - killed < LEASE_SECONDS + 3 * SWEEP_SECONDS + 5
    booth.join(10)
    _wait("host A serving again", lambda: _healthy(hosts.a.url), 20)


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _redis_up(url: str) -> float:
    for line in requests.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith("photochanger_redis_up{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no photochanger_redis_up in /metrics")


def test_stopping_redis_mid_run_costs_no_5xx(hosts):
    hosts.gemini.reset()
    statuses: list[int] = []
    burst_half = threading.Event()

    def burst() -> None:
        for n in range(30, 42):
            slot = f"slot-{5 + n % 6:03d}"
            statuses.append(post_photo(hosts.nginx.url, _photo(n), slot).status_code)
            if n == 35:
                burst_half.set()

    sender = threading.Thread(target=burst)
    sender.start()
    assert burst_half.wait(30)
    hosts.redis.halt()
    sender.join(60)
    assert statuses and all(code == 200 for code in statuses), statuses
    assert login(hosts.nginx.url, "wrong-guess", "203.0.113.91").status_code == 401  # not 500
    for host in (hosts.a, hosts.b):
        health = requests.get(f"{host.url}/healthz", timeout=5)
        assert health.status_code == 200, health.text  # the host stays in the balancer
        assert health.json()["warnings"] == ["redis"]
        assert health.json()["checks"]["redis"]["status"] == "degraded"
        assert _redis_up(host.url) == 0
    assert "redis.unavailable" in hosts.a.log() + hosts.b.log()

    hosts.redis.start()
    for host in (hosts.a, hosts.b):
        health = requests.get(f"{host.url}/healthz", timeout=5).json()
        assert health["warnings"] == [] and health["checks"]["redis"]["status"] == "ok"
        assert _redis_up(host.url) == 1


def _download(hosts: TwoHosts, job_id: str) -> requests.Response:
    return requests.get(f"{hosts.nginx.url}/public/results/{job_id}", timeout=10)


def test_stopping_host_a_mid_burst_loses_no_stored_result(hosts):
    """SIGTERM to host A's master while booths send through nginx: every 200 keeps its result,
    also one made on host A itself, and no download through nginx gets a 5xx."""
    hosts.gemini.reset()
    slots = ["slot-001", "slot-011", "slot-012"]
    for slot in slots:
        gemini_slot(hosts.app, slot)
    made = post_photo(hosts.a.url, _photo(50), "slot-001")
    assert made.status_code == 200, made.text
    # Slow provider answers keep some ingests in flight on host A when it is told to stop.
    hosts.gemini.enqueue(*[step("hang", seconds=1)] * 6)
    answers: list[tuple[bytes, requests.Response | None]] = []
    told_to_stop = threading.Event()

    def booth(slot: str, first: int) -> None:
        after = 0
        for n in range(first, first + 12):
            if after == 3:  # three ingests sent while host A drains or is gone
                return
            after += told_to_stop.is_set()
            photo = _photo(n)
            try:
                answers.append((photo, post_photo(hosts.nginx.url, photo, slot, timeout=60)))
            except requests.RequestException:
                answers.append((photo, None))

    booths = [
        threading.Thread(target=booth, args=(slot, 60 + 20 * i), daemon=True) for i, slot in enumerate(slots)
    ]
    for thread in booths:
        thread.start()
    _wait("ingests in flight", lambda: len(hosts.running_jobs("slot-011")) + len(answers) >= 3, 10)
    # Graceful: the master closes its socket and lets its workers finish what they hold; it
    # exits when nginx drops its idle connections to it (up to keepalive_timeout, 60 s).
    hosts.a.proc.send_signal(signal.SIGTERM)
    told_to_stop.set()
    for thread in booths:
        thread.join(60)
    hosts.a.stop()  # the rest of the stop, quickly: downloads below find host A gone

    stored = [(photo, resp) for photo, resp in answers if resp is not None and resp.status_code == 200]
    assert len(stored) >= 6, [resp and resp.status_code for _, resp in answers]
    made_on_a = [resp for _, resp in stored if resp.headers["X-Job-Id"] in hosts.a.log()]
    assert made_on_a, "no ingest of the burst reached host A"
    for resp in [made, *(resp for _, resp in stored)]:
        download = _download(hosts, resp.headers["X-Job-Id"])
        assert download.status_code == 200, download.text
        assert download.content == resp.content
        assert download.headers["X-Media-Delivery"] == "x-accel-s3"
    for _ in range(4):  # round robin sends some of them to the stopped host first
        assert _download(hosts, made.headers["X-Job-Id"]).status_code == 200
    job = requests.get(f"{hosts.nginx.url}/api/jobs/{made.headers['X-Job-Id']}", timeout=10)
    assert job.status_code == 200 and job.json()["status"] == "done"
