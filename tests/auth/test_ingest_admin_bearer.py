"""An admin's bearer token stands in for the booth password on the ingest routes, over real HTTP.

Without a valid token nothing changes: the password decides, wrong ones count towards the lockout.
"""

from __future__ import annotations

import pytest
import requests

from tests.auth.guessing import admin_login, ingest, throttled
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.mock_gemini import MockGemini
from tests.support.stack import GEMINI_TEST_KEY


@pytest.fixture
def server(live_server):
    with MockGemini(api_key=GEMINI_TEST_KEY) as gemini:
        yield live_server(
            workers=2, TRUSTED_PROXY_COUNT="1", GEMINI_API_BASE=gemini.url, GEMINI_API_KEY=GEMINI_TEST_KEY
        )


def _as(token: str, address: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Forwarded-For": address}


def test_an_admin_token_replaces_the_password_and_counts_no_failure(server):
    token = admin_login(server.url).json()["access_token"]
    address = "203.0.113.41"
    for path in ("/ingest", "/api/ingest"):
        resp = post_photo(server.url, jpeg_bytes(), password=None, path=path, headers=_as(token, address))
        assert resp.status_code == 200, resp.text
        assert resp.headers["X-Job-Id"]
    # Wrong passwords next to a valid token are no guesses: more than the lockout allows, all served.
    for i in range(11):
        resp = post_photo(server.url, jpeg_bytes(), password=f"wrong-{i}", headers=_as(token, address))
        assert resp.status_code == 200, resp.text
    assert ingest(server.url, "wrong", address).status_code == 401  # not 429: nothing was counted
    assert "auth.ingest.admin" in server.log()


def test_without_a_valid_token_the_password_still_decides(server):
    token = admin_login(server.url).json()["access_token"]
    address = "203.0.113.42"
    forged = {"Authorization": "Bearer not.a.token", "X-Forwarded-For": address}
    resp = post_photo(server.url, jpeg_bytes(), password=None, headers=forged)
    assert resp.status_code == 401, resp.text
    assert resp.json()["failure_reason"] == "unauthorized"
    assert "пароль ingest" in resp.json()["message"]

    # A logged-out token is no longer an admin's.
    assert (
        requests.post(f"{server.url}/api/logout", headers=_as(token, address), timeout=10).status_code == 200
    )
    for _ in range(9):  # with the forged one above: ten failures lock the address
        assert (
            post_photo(server.url, jpeg_bytes(), password=None, headers=_as(token, address)).status_code
            == 401
        )
    throttled(ingest(server.url, None, address))
