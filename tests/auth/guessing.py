"""Helpers for password-guessing tests over real HTTP: logins and ingests from chosen addresses."""

from __future__ import annotations

import requests

from tests.support.app import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes


def login(url: str, password: str, address: str | None = None, **body: object) -> requests.Response:
    """``POST /api/login`` on a fresh connection; ``address`` goes in ``X-Forwarded-For``."""
    headers = {"X-Forwarded-For": address} if address else {}
    payload = {"username": ADMIN_USERNAME, "password": password, **body}
    return requests.post(f"{url}/api/login", json=payload, headers=headers, timeout=30)


def admin_login(url: str, address: str | None = None) -> requests.Response:
    return login(url, ADMIN_PASSWORD, address)


def ingest(url: str, password: str | None, address: str | None = None) -> requests.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    return post_photo(url, jpeg_bytes(), password=password, headers=headers, timeout=60)


def throttled(resp: requests.Response) -> dict:
    """The 429 ``throttled`` answer, with ``Retry-After`` and a Russian message."""
    assert resp.status_code == 429, resp.text
    body = resp.json()
    assert body["failure_reason"] == "throttled"
    assert "повторите через" in body["message"]
    assert int(resp.headers["Retry-After"]) > 0
    return body
