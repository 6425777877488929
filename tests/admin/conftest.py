"""Admin fixtures: a credentials file with one account, and a logged-in client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from photochanger.auth.passwords import hash_password

ADMIN_USER = "serg"
ADMIN_PASSWORD = "correct horse battery"


def write_credentials(path: str | Path, accounts: dict[str, str]) -> None:
    """Write ``{"admins": [...]}`` with cheap bcrypt hashes (rounds=4 keeps tests fast)."""
    admins = [{"username": u, "password_hash": hash_password(p, rounds=4)} for u, p in accounts.items()]
    Path(path).write_text(json.dumps({"admins": admins}), encoding="utf-8")


@pytest.fixture
def credentials_file(app_env: dict[str, str]) -> str:
    """The credentials file the app (and a live server) reads, with account serg."""
    path = app_env["ADMIN_CREDENTIALS_FILE"]
    write_credentials(path, {ADMIN_USER: ADMIN_PASSWORD})
    return path


@pytest.fixture
def admin_token(client: FlaskClient, credentials_file: str) -> str:
    resp = client.post("/api/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert resp.status_code == 200, resp.get_json()
    return str(resp.get_json()["access_token"])


@pytest.fixture
def auth(admin_token: str) -> dict[str, str]:
    """Headers of an authenticated admin API call."""
    return {"Authorization": f"Bearer {admin_token}"}
