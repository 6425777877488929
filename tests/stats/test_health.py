"""/healthz: each check named; 503 names the failing one; provider probes cached."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy.exc import OperationalError

from photochanger.extensions import db
from photochanger.runtime import services
from photochanger.stats import health
from tests.support.net import free_port
from tests.support.setup import configure_slot, gemini_slot

pytestmark = pytest.mark.db


@pytest.fixture(autouse=True)
def _fresh_probe_cache(monkeypatch):
    monkeypatch.setattr(health, "_probe_cache", {})


CLOSED = {"state": "closed", "failures": 0}


def test_healthy_with_only_the_local_provider(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok" and body["failing"] == []
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["media"] == {"status": "ok"}
    providers = body["checks"]["providers"]
    assert providers["local"] == {"status": "ok", "required": True}
    # unused providers are reported, never probed, never failing; a missing key is only reported
    # as is each networked provider's circuit breaker
    assert providers["gemini"] == {
        "status": "unused",
        "required": False,
        "key_configured": False,
        "circuit": CLOSED,
    }
    assert resp.headers["Cache-Control"] == "no-store"


def test_database_down_is_503_naming_the_check(client, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(db.session, "execute", broken)
    resp = client.get("/healthz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "fail"
    assert body["failing"] == ["database"]
    assert body["checks"]["database"]["status"] == "fail"


def test_media_not_writable_is_503(app, client, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with app.app_context():
        services().store.root = str(blocker / "media")  # cannot create a folder under a file
    resp = client.get("/healthz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["failing"] == ["media"]
    assert "media_root" in body["checks"]["media"]["detail"]


def test_required_provider_unreachable_is_503(app, client):
    gemini_slot(app, "slot-003")
    app.config["GEMINI_API_BASE"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    resp = client.get("/healthz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["failing"] == ["provider:gemini"]
    gemini = body["checks"]["providers"]["gemini"]
    assert gemini["status"] == "fail" and gemini["required"] is True
    assert "127.0.0.1" in gemini["detail"]


def test_a_fallback_steps_provider_is_required_and_probed_at_its_own_url(app, client):
    dead = f"http://127.0.0.1:{free_port()}/segment"
    step = {"provider": "http_service", "operation": "image_edit", "settings": {"url": dead}}
    configure_slot(app, "slot-005", chain_json={"fallbacks": [step]})
    resp = client.get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["failing"] == ["provider:http_service"]
    service = resp.get_json()["checks"]["providers"]["http_service"]
    assert service["required"] is True and "127.0.0.1" in service["detail"]


def test_required_provider_reachable_without_key_is_ok_and_probe_is_cached(app, client):
    gemini_slot(app, "slot-003")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    app.config["GEMINI_API_BASE"] = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        resp = client.get("/healthz")
        assert resp.status_code == 200, resp.get_json()
        gemini = resp.get_json()["checks"]["providers"]["gemini"]
        assert gemini == {"status": "ok", "required": True, "key_configured": False, "circuit": CLOSED}
    finally:
        listener.close()
    # within the cache window the closed listener is not probed again
    assert client.get("/healthz").status_code == 200


def test_probe_cache_expires(monkeypatch):
    port = free_port()
    first = health.probe_url(f"http://127.0.0.1:{port}", now=1000.0)
    assert not first.ok
    assert health.probe_url(f"http://127.0.0.1:{port}", now=1000.0 + health.PROBE_TTL - 1) is first
    assert health.probe_url(f"http://127.0.0.1:{port}", now=1000.0 + health.PROBE_TTL + 1) is not first
    assert health.probe_url("", now=0).detail == "base URL not set"


def test_http_service_is_probed_at_the_url_each_active_slot_names(app, client):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        up = f"http://127.0.0.1:{listener.getsockname()[1]}/segment"
        down = f"http://127.0.0.1:{free_port()}/segment"
        configure_slot(
            app, "slot-004", provider="http_service", operation="image_edit", settings_json={"url": up}
        )
        assert client.get("/healthz").get_json()["checks"]["providers"]["http_service"]["status"] == "ok"
        configure_slot(
            app, "slot-005", provider="http_service", operation="image_edit", settings_json={"url": down}
        )
        body = client.get("/healthz").get_json()
        assert body["failing"] == ["provider:http_service"]
        assert down.split("/")[2] in body["checks"]["providers"]["http_service"]["detail"]
    finally:
        listener.close()
