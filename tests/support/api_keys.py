"""Integration API keys in tests: made through the admin API, over HTTP or in process."""

from __future__ import annotations

from typing import Any

import requests

from tests.support.app import ADMIN_PASSWORD, ADMIN_USERNAME


def admin_bearer(url: str) -> dict[str, str]:
    resp = requests.post(
        f"{url}/api/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}, timeout=30
    )
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def new_key(url: str, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    """``POST /api/keys`` over HTTP; the answer with ``api_key`` and ``webhook_secret``."""
    resp = requests.post(f"{url}/api/keys", json={"name": "Партнёр", **body}, headers=admin, timeout=30)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())
