"""The integration API over HTTP in tests: keys made through the admin API, jobs and batches sent with one."""

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


def api_post(
    url: str, key: str, path: str, slot_id: str, files: dict[str, Any] | list[tuple[str, Any]], **fields: str
) -> requests.Response:
    """A multipart POST to ``/api/v1/<path>`` with ``X-API-Key`` (a job or a batch; a list repeats parts)."""
    return requests.post(
        f"{url}/api/v1/{path}",
        data={"slot_id": slot_id, **fields},
        files=files,
        headers={"X-API-Key": key},
        timeout=60,
    )
