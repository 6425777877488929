"""Integration API keys: shown once, stored hashed, scoped, rate-limited, counted, revoked at once."""

from __future__ import annotations

import hashlib

import pytest
import requests
from sqlalchemy import select

from photochanger.extensions import db
from photochanger.models import ApiKey
from tests.support.api_keys import admin_bearer, new_key

pytestmark = pytest.mark.db


def _create(client, auth, **body):
    resp = client.post("/api/keys", json={"name": "Сайт студии", **body}, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_a_key_is_shown_once_and_stored_only_as_its_sha256(app, client, auth):
    made = _create(client, auth, slot_ids=["slot-002", "slot-001"], rate_per_minute=30)
    assert made["api_key"].startswith("pc_") and len(made["api_key"]) >= 40
    assert made["webhook_secret"].startswith("whsec_")
    assert made["slot_ids"] == ["slot-001", "slot-002"]
    listed = client.get("/api/keys", headers=auth).get_json()["keys"]
    assert [k["id"] for k in listed] == [made["id"]]
    assert "api_key" not in listed[0] and "webhook_secret" not in listed[0]
    assert made["api_key"].startswith(listed[0]["prefix"])
    with app.app_context():
        row = db.session.execute(select(ApiKey)).scalar_one()
        assert row.key_hash == hashlib.sha256(made["api_key"].encode()).hexdigest()
        stored = " ".join(str(v) for v in vars(row).values())
        assert made["api_key"] not in stored and made["webhook_secret"] not in stored


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "  "}, "name"),
        ({"name": "x", "slot_ids": []}, "slot_ids"),
        ({"name": "x", "slot_ids": ["slot-099"]}, "slot_ids"),
        ({"name": "x", "rate_per_minute": 0}, "rate_per_minute"),
        ({"name": "x", "extra": 1}, "extra"),
    ],
)
def test_bad_key_bodies_are_400_naming_the_field(client, auth, body, field):
    resp = client.post("/api/keys", json=body, headers=auth)
    assert resp.status_code == 400
    assert resp.get_json()["failure_reason"] == "bad_request"
    assert field in resp.get_json()["message"] or resp.get_json().get("field") == field


def test_keys_need_an_admin(client):
    assert client.get("/api/keys").status_code == 401
    assert client.post("/api/keys", json={"name": "x"}).status_code == 401


def test_x_api_key_authenticates_and_each_request_is_counted(client, auth):
    made = _create(client, auth)
    for _ in range(3):
        resp = client.get("/api/v1/key", headers={"X-API-Key": made["api_key"]})
        assert resp.status_code == 200
    assert resp.get_json() == {"key_id": made["id"], "name": "Сайт студии", "slot_ids": None}
    listed = client.get("/api/keys", headers=auth).get_json()["keys"][0]
    assert listed["request_count"] == 3 and listed["last_used_at"]


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "pc_not-a-key"}, {"Authorization": "Bearer x"}])
def test_a_missing_or_unknown_key_is_401(client, headers):
    resp = client.get("/api/v1/key", headers=headers)
    assert resp.status_code == 401
    assert resp.get_json()["failure_reason"] == "unauthorized"
    assert "ключ" in resp.get_json()["message"].lower()


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/key", {"GET", "HEAD", "OPTIONS"}),
        ("/api/v1/jobs", {"POST", "OPTIONS"}),
        ("/api/v1/batches/b1/results.zip", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_options_lists_the_methods_without_a_key_like_the_rest_of_the_app(client, path, allowed):
    """OPTIONS reveals nothing a key guards: it answers as the admin API does, with ``Allow``."""
    resp = client.options(path)
    assert resp.status_code == 200
    assert set(resp.headers["Allow"].split(", ")) == allowed
    assert client.options("/api/keys").status_code == 200  # the admin API, for comparison


def test_over_its_rate_a_key_gets_429_with_retry_after_and_other_keys_do_not(client, auth):
    slow = _create(client, auth, rate_per_minute=2)
    other = _create(client, auth, rate_per_minute=2)
    answers = [client.get("/api/v1/key", headers={"X-API-Key": slow["api_key"]}) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert answers[2].get_json()["failure_reason"] == "too_many_requests"
    assert "лимит" in answers[2].get_json()["message"]
    assert 0 < int(answers[2].headers["Retry-After"]) <= 60
    assert client.get("/api/v1/key", headers={"X-API-Key": other["api_key"]}).status_code == 200


def test_revoking_an_unknown_key_is_404(client, auth):
    resp = client.delete("/api/keys/nope", headers=auth)
    assert resp.status_code == 404 and resp.get_json()["failure_reason"] == "not_found"


def _key_status(url: str, key: str) -> requests.Response:
    return requests.get(f"{url}/api/v1/key", headers={"X-API-Key": key}, timeout=10)  # fresh connection


def test_a_revoked_key_is_refused_by_every_worker_at_once_and_the_rate_is_shared(live_server):
    server = live_server(workers=2)
    admin = admin_bearer(server.url)
    key = new_key(server.url, admin, rate_per_minute=1000)
    # Fresh connections (any worker takes each): per-worker counting would let up to 8 through.
    # A round that one worker took alone is repeated with a new key (made beforehand: a round
    # is judged by the workers that logged its requests).
    limited = [new_key(server.url, admin, rate_per_minute=4) for _ in range(4)]
    for n in server.rounds_until_shared("http.request", rounds=len(limited)):
        answers = [_key_status(server.url, limited[n]["api_key"]).status_code for _ in range(16)]
        assert answers == [200] * 4 + [429] * 12
    assert _key_status(server.url, key["api_key"]).status_code == 200

    resp = requests.delete(f"{server.url}/api/keys/{key['id']}", headers=admin, timeout=10)
    assert resp.status_code == 200 and resp.json()["revoked_at"]
    for _ in server.rounds_until_shared("http.request"):
        refused = [_key_status(server.url, key["api_key"]) for _ in range(12)]
        assert {r.status_code for r in refused} == {401}
        assert refused[0].json()["failure_reason"] == "unauthorized"


def test_stats_show_each_keys_requests(client, auth):
    made = _create(client, auth)
    client.get("/api/v1/key", headers={"X-API-Key": made["api_key"]})
    client.get("/api/v1/key", headers={"X-API-Key": made["api_key"]})
    keys = client.get("/api/stats/api-keys", headers=auth).get_json()["keys"]
    assert keys == [
        {
            "key_id": made["id"],
            "name": "Сайт студии",
            "revoked": False,
            "request_count": 2,
            "last_used_at": keys[0]["last_used_at"],
            "tasks": {"open": 0, "done": 0, "failed": 0},
        }
    ]
    assert keys[0]["last_used_at"]


def test_while_the_limiter_storage_is_down_keys_still_work(client, auth, monkeypatch):
    from limits.errors import StorageError

    from photochanger.auth import api_keys

    class Down:
        def hit(self, *args):
            raise StorageError(ConnectionError("redis stopped"))

    made = _create(client, auth, rate_per_minute=1)
    monkeypatch.setattr(api_keys, "_window", lambda storage: Down())
    headers = {"X-API-Key": made["api_key"]}
    assert [client.get("/api/v1/key", headers=headers).status_code for _ in range(3)] == [200, 200, 200]


def test_a_name_is_blank_by_the_published_rule_in_every_regex_engine(client, auth):
    """``\\x1f`` is whitespace to Python's ``\\s``, not to ECMA's: contract and server agree on it."""
    import re

    from photochanger.validation import NOT_BLANK
    from tests.contracts.contract import spec

    published = spec()["paths"]["/api/keys"]["post"]["requestBody"]["content"]["application/json"]
    assert published["schema"]["properties"]["name"]["pattern"] == NOT_BLANK
    assert spec()["components"]["schemas"]["RunPrompt"]["pattern"] == NOT_BLANK
    for blank in ("\x1f", "\ufeff", " \x85"):
        assert not re.search(NOT_BLANK, blank)
        resp = client.post("/api/keys", json={"name": blank}, headers=auth)
        assert resp.status_code == 400 and resp.get_json()["field"] == "name"
