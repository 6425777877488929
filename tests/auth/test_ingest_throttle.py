"""Booth (ingest) password guesses over real HTTP: a lockout per client address, in every worker.

Issue 20 row 10: 32 wrong guesses in 10 s from one address were all 401, never 429.
"""

from __future__ import annotations

import pytest

from tests.auth.guessing import ingest, throttled
from tests.conftest import INGEST_PASSWORD
from tests.support.mock_gemini import MockGemini
from tests.support.stack import GEMINI_TEST_KEY

GUESSER, BOOTH = "203.0.113.9", "198.51.100.20"


@pytest.fixture
def server(live_server):
    with MockGemini(api_key=GEMINI_TEST_KEY) as gemini:
        yield live_server(
            workers=2, TRUSTED_PROXY_COUNT="1", GEMINI_API_BASE=gemini.url, GEMINI_API_KEY=GEMINI_TEST_KEY
        )


def test_ten_wrong_passwords_lock_the_address_but_not_a_booth_elsewhere(server):
    # Both workers must count; a round that one worker took alone is repeated from a new address.
    for n in server.rounds_until_shared("http.request"):
        guesser = f"203.0.113.{9 + n}"
        codes = [ingest(server.url, f"guess-{i:04d}", guesser).status_code for i in range(10)]
        assert codes == [401] * 10
    locked = ingest(server.url, "guess-0010", guesser)
    assert "паролей ingest" in throttled(locked)["message"]
    assert 4 * 60 <= int(locked.headers["Retry-After"]) <= 5 * 60
    throttled(ingest(server.url, INGEST_PASSWORD, guesser))  # a right guess is not revealed
    assert "auth.ingest.locked" in server.log()

    resp = ingest(server.url, INGEST_PASSWORD, BOOTH)
    assert resp.status_code == 200, resp.text


def test_a_missing_password_counts_as_a_guess(server):
    for _ in range(10):
        assert ingest(server.url, None, GUESSER).status_code == 401
    throttled(ingest(server.url, None, GUESSER))
