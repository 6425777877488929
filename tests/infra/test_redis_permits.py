"""Permits in Redis: N holders across hosts, leases that lapse with their holder, fallback to files.

Each ``SharedPermits`` with its own lock folder stands for one host; the
real ``redis-server`` of the suite is all they share.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import signal
import threading
import time
import uuid

import pytest
import requests

from photochanger.infra import metrics
from photochanger.infra.redis_link import RedisLink
from photochanger.infra.shared_permits import SharedPermits
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.net import free_port

LEASE = 0.6


@pytest.fixture
def host(redis_server, tmp_path):
    """Factory: one host's permits on the suite's Redis (``url`` overrides it)."""

    def make(name: str = "a", url: str | None = None, lease: float = LEASE) -> SharedPermits:
        return SharedPermits(str(tmp_path / name), RedisLink(url or redis_server.url), lease)

    return make


def _name() -> str:
    return f"slot-{uuid.uuid4().hex[:8]}"  # a fresh limit per test: the Redis is the session's


def test_a_limit_of_two_holds_across_two_hosts(host, tmp_path):
    a, b, name = host("a"), host("b"), _name()
    first = a.try_acquire(name, 2, "job-1")
    second = b.try_acquire(name, 2, "job-2")
    assert first is not None and second is not None
    assert a.try_acquire(name, 2, "job-3") is None
    assert b.try_acquire(name, 2, "job-3") is None
    assert not list((tmp_path / "a").glob("*.lock")), "the permits came from Redis, not lock files"
    first.release()
    third = b.try_acquire(name, 2, "job-3")
    assert third is not None
    assert a.try_acquire(name, 2, "job-4") is None
    second.release()
    third.release()


def _hold(url: str, lock_dir: str, name: str, ready, done) -> None:
    permits = SharedPermits(lock_dir, RedisLink(url), LEASE)
    lease = permits.try_acquire(name, 1, "job-held")
    beat = permits.heartbeat("job-held-" + name)
    assert lease is not None and beat is not None
    ready.set()
    done.wait(30)


def test_a_lease_is_renewed_while_its_holder_lives_and_lapses_when_it_is_killed(host, redis_server, tmp_path):
    ctx = multiprocessing.get_context("fork")
    ready, done, name = ctx.Event(), ctx.Event(), _name()
    proc = ctx.Process(target=_hold, args=(redis_server.url, str(tmp_path / "b"), name, ready, done))
    proc.start()
    try:
        assert ready.wait(10)
        here = host("a")
        time.sleep(LEASE * 2.5)  # several lease lengths: only renewal keeps it held
        assert here.try_acquire(name, 1, "job-mine") is None
        assert here.lapsed_jobs(["job-held-" + name, "unknown-job"]) == set()
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(5)
        end = time.monotonic() + LEASE * 3
        lease = None
        while lease is None and time.monotonic() < end:
            lease = here.try_acquire(name, 1, "job-mine")
            time.sleep(0.05)
        assert lease is not None, "the killed holder's permit never came free"
        assert here.lapsed_jobs(["job-held-" + name, "unknown-job"]) == {"job-held-" + name}
        lease.release()
    finally:
        if proc.is_alive():  # a killed waiter leaves the event unusable
            done.set()
        proc.join(5)


def test_a_released_heartbeat_is_not_taken_for_a_lapsed_one(host):
    permits = host("a", lease=0.1)
    job = uuid.uuid4().hex
    beat = permits.heartbeat(job)
    assert beat is not None
    beat.release()
    time.sleep(0.2)
    assert permits.lapsed_jobs([job]) == set()


def test_the_mutex_excludes_other_hosts(host):
    a, b, name = host("a"), host("b"), _name()
    order: list[str] = []
    entered = threading.Event()

    def other() -> None:
        entered.wait(5)
        with b.mutex(name):
            order.append("b")

    thread = threading.Thread(target=other)
    thread.start()
    with a.mutex(name):
        entered.set()
        time.sleep(0.3)
        order.append("a")
    thread.join(5)
    assert order == ["a", "b"]


def test_a_stopped_redis_falls_back_to_host_local_permits(host, tmp_path, caplog):
    down = host("a", url=f"redis://127.0.0.1:{free_port()}/0")
    name = _name()
    with caplog.at_level(logging.WARNING, logger="photochanger.redis"):
        first = down.try_acquire(name, 1, "job-1")
        assert first is not None
        assert down.try_acquire(name, 1, "job-2") is None  # the limit still holds on this host
    assert list((tmp_path / "a").glob("*.lock")), "the permit came from a lock file"
    assert [r.message for r in caplog.records].count("redis.unavailable") == 1  # once per outage
    assert down.heartbeat("job-1") is None
    assert down.lapsed_jobs(["job-1"]) == set()
    check = down.link.check()
    assert check["status"] == "degraded"
    assert _gauge(down) == 0
    first.release()


def test_redis_up_again_is_used_again_and_reported(host, redis_server):
    permits = host("a")
    permits.link.failed(ConnectionError("test"), "test")
    assert _gauge(permits) == 0
    assert permits.link.check() == {"status": "ok"}
    assert _gauge(permits) == 1
    lease = permits.try_acquire(_name(), 1, "job-1")
    assert lease is not None and permits.redis is not None
    assert redis_server.client().keys("photochanger:permit:*")
    lease.release()


def _gauge(permits: SharedPermits) -> float:
    for sample in metrics.REDIS_UP.collect()[0].samples:
        if sample.labels["target"] == permits.link._target:
            return sample.value
    raise AssertionError("no photochanger_redis_up sample")


def test_a_host_without_its_redis_serves_ingests_and_says_so(live_server):
    """Over real HTTP: no 500, the ingest done on host-local limits, /healthz and the metric warn."""
    server = live_server(workers=2, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    for n in range(3):
        resp = post_photo(server.url, jpeg_bytes(64, 48, color=(n, 0, 0)))
        assert resp.status_code == 200, resp.text
    health = requests.get(f"{server.url}/healthz", timeout=5)
    assert health.status_code == 200, health.text
    assert health.json()["warnings"] == ["redis"]
    metrics_text = requests.get(f"{server.url}/metrics", timeout=5).text
    assert re.search(r'^photochanger_redis_up\{target="127\.0\.0\.1:\d+/0"\} 0\.0$', metrics_text, re.M)
    assert "redis.unavailable" in server.log()


def test_without_redis_url_nothing_mentions_redis(client):
    body = client.get("/healthz").get_json()
    assert body["checks"]["redis"] == {"status": "unused"} and body["warnings"] == []


def test_a_check_by_a_worker_that_saw_no_outage_still_reports_redis_up(host):
    """Workers share the series: the 0 one worker wrote must not outlive Redis answering again."""
    saw_outage, saw_nothing = host("a"), host("b")
    saw_outage.link.failed(ConnectionError("test"), "test")
    assert _gauge(saw_nothing) == 0
    assert saw_nothing.link.check() == {"status": "ok"}
    assert _gauge(saw_nothing) == 1
