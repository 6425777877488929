"""Fixtures of the integration API tests: an admin's bearer headers, a key's headers, small batch limits."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.app import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.support.zips import MAX_FILES, MAX_UNPACKED_MB


@pytest.fixture
def auth(client: FlaskClient) -> dict[str, str]:
    resp = client.post("/api/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert resp.status_code == 200, resp.get_json()
    return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}


@pytest.fixture
def key(client: FlaskClient, auth: dict[str, str]) -> dict[str, str]:
    """``X-API-Key`` headers of a key named «Партнёр» with every slot."""
    made = client.post("/api/keys", json={"name": "Партнёр"}, headers=auth).get_json()
    return {"X-API-Key": made["api_key"]}


@pytest.fixture
def limits(app: Flask) -> None:
    """Batch limits small enough for a test to go over them."""
    app.config.update(BATCH_MAX_FILES=MAX_FILES, BATCH_MAX_UNPACKED_MB=MAX_UNPACKED_MB)
