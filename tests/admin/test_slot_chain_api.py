"""The fallback chain and retry policy through the slots admin API."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.db

LOCAL = {"provider": "local", "operation": "filter", "settings": {"filter": "sepia"}}


def _put(client, auth, body):
    return client.put("/api/slots/slot-001", headers=auth, json=body)


def test_a_fresh_slot_is_a_chain_of_one(client, auth):
    body = client.get("/api/slots/slot-001", headers=auth).get_json()
    assert body["fallbacks"] == []
    assert body["retry"] == {"attempts": None, "backoff_seconds": None}
    assert body["time_share"] is None and body["default_time_share"] == 0.6


def test_fallbacks_and_retry_policy_are_saved_with_defaults_and_a_new_version(client, auth):
    before = client.get("/api/slots/slot-001", headers=auth).get_json()["version"]
    body = {
        "provider": "gemini",
        "operation": "image_edit",
        "settings": {"prompt": "Акварель"},
        "retry": {"attempts": 3, "backoff_seconds": 0.5},
        "time_share": 0.7,
        "fallbacks": [
            {"provider": "gpt_image", "settings": {"prompt": "Акварель"}, "retry": {"attempts": 1}},
            LOCAL,
        ],
    }
    resp = _put(client, auth, body)
    assert resp.status_code == 200, resp.get_json()
    slot = client.get("/api/slots/slot-001", headers=auth).get_json()
    assert slot["version"] == before + 1
    assert slot["retry"] == {"attempts": 3, "backoff_seconds": 0.5}
    assert slot["time_share"] == 0.7
    first, second = slot["fallbacks"]
    assert first["provider"] == "gpt_image" and first["operation"] == "image_edit"
    assert first["settings"]["prompt"] == "Акварель" and "model" in first["settings"]  # schema defaults
    assert first["retry"] == {"attempts": 1, "backoff_seconds": None}
    assert second["provider"] == "local" and second["settings"]["filter"] == "sepia"
    # fields left out keep the chain
    assert _put(client, auth, {"display_name": "Пляж"}).status_code == 200
    assert len(client.get("/api/slots/slot-001", headers=auth).get_json()["fallbacks"]) == 2
    # an empty list removes it
    assert _put(client, auth, {"fallbacks": []}).status_code == 200
    assert client.get("/api/slots/slot-001", headers=auth).get_json()["fallbacks"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fallbacks": [{"provider": "local", "operation": "image_edit"}]}, "fallbacks[0].operation"),
        ({"fallbacks": [LOCAL, {"provider": "gemini", "settings": {}}]}, "fallbacks[1].settings.prompt"),
        ({"fallbacks": [{"provider": "nope"}]}, "fallbacks[0].provider"),
        ({"fallbacks": [LOCAL] * 5}, "fallbacks"),
        ({"retry": {"attempts": 0}}, "retry.attempts"),
        ({"time_share": 1.0}, "time_share"),
    ],
)
def test_a_bad_chain_is_400_naming_the_field_in_russian(client, auth, body, field):
    resp = _put(client, auth, body)
    assert resp.status_code == 400, resp.get_json()
    error = resp.get_json()
    assert error["field"] == field
    assert any("а" <= ch <= "я" for ch in error["message"].lower())
