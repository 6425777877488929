"""Fixtures of the integration API tests: an admin's bearer headers and a key for the in-process client."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.support.app import ADMIN_PASSWORD, ADMIN_USERNAME


@pytest.fixture
def auth(client: FlaskClient) -> dict[str, str]:
    resp = client.post("/api/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert resp.status_code == 200, resp.get_json()
    return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}


@pytest.fixture
def key(client: FlaskClient, auth: dict[str, str]) -> dict[str, str]:
    """The headers of a new integration key with every slot."""
    made = client.post("/api/keys", json={"name": "Партнёр"}, headers=auth).get_json()
    return {"X-API-Key": made["api_key"]}
