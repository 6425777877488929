"""Fast failure: a provider's circuit opens for every gunicorn worker, over real HTTP.

With the provider's host down (or answering 503 to everything) and no fallback,
the first ingests open the circuit and every ingest after them is answered
503 ``provider_unavailable`` within 3 s instead of waiting out the deadline.
"""

from __future__ import annotations

import time

import pytest
import redis
import requests

from tests.infra.test_metrics import sample
from tests.ingest.test_status_table import error_of
from tests.support.app import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.net import free_port
from tests.support.setup import gemini_slot, set_settings

FAST = 3.0


def _ingest_times(url: str, count: int) -> list[tuple[requests.Response, float]]:
    out = []
    for i in range(count):
        started = time.monotonic()
        # A different photo each time: no ingest is a replay of another.
        resp = post_photo(url, jpeg_bytes(320 + i, 240))
        out.append((resp, time.monotonic() - started))
    return out


def _circuit(url: str) -> dict:
    return requests.get(f"{url}/healthz", timeout=10).json()["checks"]["providers"]["gemini"]["circuit"]


def _admin_get(url: str, path: str) -> dict:
    login = requests.post(
        f"{url}/api/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}, timeout=10
    )
    token = login.json()["access_token"]
    resp = requests.get(f"{url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.mark.slow
def test_host_down_every_ingest_after_the_third_is_503_provider_unavailable_within_3_s(shared, tmp_path):
    gemini_slot(shared.app)
    set_settings(shared.app, sync_response_seconds=20)
    server = shared.start_server(
        workers=2,
        GEMINI_API_BASE=f"http://127.0.0.1:{free_port()}",
        # Its own metrics folder: a master wipes its folder on start, the module's server uses the default.
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    answers = _ingest_times(server.url, 8)
    for resp, elapsed in answers[3:]:
        error_of(resp, 503, "provider_unavailable")
        assert elapsed < FAST, [round(e, 2) for _r, e in answers]
    assert sum(e for _r, e in answers) < 8 * FAST
    assert _circuit(server.url)["state"] == "open"
    metrics = requests.get(f"{server.url}/metrics", timeout=10).text
    assert sample(metrics, "photochanger_provider_circuit_open", provider="gemini") == 1
    assert sample(metrics, "photochanger_provider_circuit_open", provider="fal") == 0
    overview = _admin_get(server.url, "/api/stats/overview")
    assert overview["circuits"]["gemini"]["state"] == "open"
    assert overview["circuits"]["gemini"]["retry_in_s"] > 0


@pytest.mark.slow
def test_provider_answering_503_opens_the_circuit_and_a_probe_closes_it(shared):
    gemini_slot(shared.app)
    set_settings(shared.app, sync_response_seconds=20, circuit_cooldown_seconds=1)
    shared.gemini.enqueue(*["overloaded"] * 3)
    started = time.monotonic()
    first = post_photo(shared.url, jpeg_bytes(330, 240))
    error_of(first, 503, "provider_unavailable")
    assert time.monotonic() - started < FAST
    assert len(shared.gemini.generate_requests) == 3  # then refused without a call
    error_of(post_photo(shared.url, jpeg_bytes(331, 240)), 503, "provider_unavailable")
    assert len(shared.gemini.generate_requests) == 3
    assert _circuit(shared.url)["state"] == "open"

    time.sleep(1.1)  # the cool-down ends: the next call is the probe, and the mock is healthy again
    assert _circuit(shared.url)["state"] == "half_open"
    resp = post_photo(shared.url, jpeg_bytes(332, 240))
    assert resp.status_code == 200, resp.text
    assert _circuit(shared.url) == {"state": "closed", "failures": 0}
    metrics = requests.get(f"{shared.url}/metrics", timeout=10).text
    assert sample(metrics, "photochanger_provider_circuit_open", provider="gemini") == 0


def test_quota_and_refusals_never_open_the_circuit(shared):
    gemini_slot(shared.app)
    shared.gemini.enqueue(*["quota"] * 4)
    for i in range(4):
        error_of(post_photo(shared.url, jpeg_bytes(340 + i, 240)), 503, "quota")
    assert _circuit(shared.url)["state"] == "closed"


@pytest.mark.slow
def test_with_redis_a_circuit_opened_on_one_host_refuses_calls_on_another(shared, redis_server, tmp_path):
    url = f"redis://127.0.0.1:{redis_server.port}/5"  # a database of its own in the session's Redis
    redis.Redis.from_url(url).flushdb()
    gemini_slot(shared.app)
    dead = f"http://127.0.0.1:{free_port()}"

    def host(name: str):  # its own LOCK_DIR: only Redis is shared
        return shared.start_server(
            GEMINI_API_BASE=dead,
            REDIS_URL=url,
            LOCK_DIR=str(tmp_path / name / "locks"),
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / name / "metrics"),
        )

    first, second = host("a"), host("b")
    error_of(post_photo(first.url, jpeg_bytes(350, 240)), 503, "provider_unavailable")
    started = time.monotonic()
    body = error_of(post_photo(second.url, jpeg_bytes(351, 240)), 503, "provider_unavailable")
    assert time.monotonic() - started < 1.5
    assert _circuit(second.url)["state"] == "open"
    attempts = requests.get(f"{second.url}/api/jobs/{body['job_id']}", timeout=10).json()["attempt_log"]
    assert [a["outcome"] for a in attempts] == ["provider_unavailable"]  # no call from the second host
