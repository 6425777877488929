"""Admin login lockouts over real HTTP: shared by every gunicorn worker, keyed by the real client.

Issue 20 row 5: the throttle lived in per-worker memory (the first 429 came after
20 guesses with 2 workers) and was keyed by the socket address, so behind nginx
anyone locked the admin out.
"""

from __future__ import annotations

from tests.auth.guessing import admin_login, login, throttled

ATTACKER, ADMIN = "203.0.113.5", "198.51.100.7"


def test_ten_failures_lock_the_pair_across_two_workers(live_server):
    server = live_server(workers=2, TRUSTED_PROXY_COUNT="1")
    # The failures must reach both workers (one worker's memory could not count them
    # all); a round that one worker took alone is repeated from a new address (a new pair).
    for n in server.rounds_until_shared("auth.login.failure"):
        address = f"203.0.113.{20 + n}"
        codes = [login(server.url, f"guess-{i}", address).status_code for i in range(10)]
        assert codes == [401] * 10
    locked = admin_login(server.url, address)  # even the right password
    assert "Слишком много неудачных попыток входа" in throttled(locked)["message"]
    assert 14 * 60 <= int(locked.headers["Retry-After"]) <= 15 * 60
    throttled(login(server.url, "guess-11", address))


def test_behind_a_proxy_an_attacker_elsewhere_cannot_lock_the_admin_out(live_server):
    server = live_server(workers=2, TRUSTED_PROXY_COUNT="1")
    for i in range(10):
        assert login(server.url, f"guess-{i}", ATTACKER).status_code == 401
    throttled(login(server.url, "guess-10", ATTACKER))
    assert admin_login(server.url, ADMIN).status_code == 200
    throttled(admin_login(server.url, ATTACKER))


def test_without_trusted_proxies_a_forged_forwarded_for_changes_nothing(live_server):
    server = live_server(workers=2)
    for i in range(10):
        assert login(server.url, f"guess-{i}", f"192.0.2.{i}").status_code == 401
    throttled(admin_login(server.url, ADMIN))


def test_guesses_spread_over_many_addresses_hit_the_per_username_ceiling(live_server):
    server = live_server(workers=2, TRUSTED_PROXY_COUNT="1")
    codes = [login(server.url, "guess", f"10.9.{i // 200}.{i % 200}").status_code for i in range(100)]
    assert codes == [401] * 100
    throttled(admin_login(server.url, ADMIN))
