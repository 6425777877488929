"""Fixtures of the integration API tests: an admin's bearer headers for the in-process client."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.support.app import ADMIN_PASSWORD, ADMIN_USERNAME


@pytest.fixture
def auth(client: FlaskClient) -> dict[str, str]:
    resp = client.post("/api/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert resp.status_code == 200, resp.get_json()
    return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}
