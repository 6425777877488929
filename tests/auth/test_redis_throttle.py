"""With ``RATELIMIT_STORAGE_URI=redis://…`` the lockouts hold across hosts (issue 20 row 5).

Two gunicorn servers with separate lock folders stand for two hosts; only the
real ``redis-server`` started by the suite connects them. Before, a redis:// URI
stopped the app from starting (the ``redis`` package was not installed).
"""

from __future__ import annotations

from tests.auth.guessing import admin_login, ingest, login, throttled
from tests.support.net import free_port

ATTACKER, ADMIN = "203.0.113.77", "198.51.100.70"


def test_failures_on_two_hosts_add_up_in_redis(live_server, redis_server, tmp_path):
    redis_server.client().flushdb()
    common = {"RATELIMIT_STORAGE_URI": redis_server.url, "TRUSTED_PROXY_COUNT": "1"}
    first = live_server(workers=2, **common)
    second = live_server(workers=2, LOCK_DIR=str(tmp_path / "other-host-locks"), **common)

    for i in range(5):
        assert login(first.url, f"guess-{i}", ATTACKER).status_code == 401
        assert login(second.url, f"guess-{i}", ATTACKER).status_code == 401
    throttled(admin_login(first.url, ATTACKER))
    throttled(admin_login(second.url, ATTACKER))
    assert admin_login(second.url, ADMIN).status_code == 200  # keyed by the real client
    assert redis_server.client().keys("*login*")

    for i in range(10):
        server = (first, second)[i % 2]
        assert ingest(server.url, f"guess-{i:04d}", ATTACKER).status_code == 401
    throttled(ingest(first.url, "guess-0010", ATTACKER))


def test_a_stopped_redis_lets_logins_through_and_is_logged(live_server):
    server = live_server(workers=2, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0")
    assert login(server.url, "guess").status_code == 401  # not 500
    assert admin_login(server.url).status_code == 200
    assert "auth.throttle_unavailable" in server.log()


def test_with_redis_url_down_each_host_still_counts_its_own_failures(live_server):
    """``REDIS_URL`` stands in for the throttle storage; while it is down, the host's files count."""
    server = live_server(workers=2, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", TRUSTED_PROXY_COUNT="1")
    for i in range(10):
        assert login(server.url, f"guess-{i}", ATTACKER).status_code == 401  # never 500
    throttled(admin_login(server.url, ATTACKER))
    assert admin_login(server.url, ADMIN).status_code == 200
    assert '"fallback": "host-local"' in server.log()
