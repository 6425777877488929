"""Global settings API: ranges, ingest password rotation, provider keys masked and encrypted,
and changes seen by the next ingest of every gunicorn worker."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from photochanger.extensions import db
from photochanger.models import AppSetting
from photochanger.settings.provider_keys import key_status, provider_api_key
from tests.support.images import jpeg_bytes
from tests.support.mock_gemini import MockGemini

from .conftest import ADMIN_PASSWORD, ADMIN_USER

pytestmark = pytest.mark.db

SECRET_KEY_VALUE = "AIza-test-key-do-not-leak-123"


def _put(client: FlaskClient, auth: dict[str, str], body: Any):
    return client.put("/api/settings", headers=auth, json=body)


class TestRead:
    def test_shape_follows_the_brief(self, client: FlaskClient, auth: dict[str, str]) -> None:
        body = client.get("/api/settings", headers=auth).get_json()
        assert body["sync_response_seconds"] == 48
        assert body["result_ttl_hours"] == 72
        assert body["ingest_password_rotated_by"] == "tests"
        assert body["ingest_password_rotated_at"].endswith("Z")
        unset = {"configured": False, "updated_at": None, "source": None}
        keyed = ["comfyui", "fal", "gemini", "gpt_image", "http_service", "turbotext"]
        assert body["provider_keys"] == dict.fromkeys(keyed, unset)
        assert "ingest_password_hash" not in json.dumps(body)


class TestUpdate:
    def test_values_are_saved_and_returned(self, client: FlaskClient, auth: dict[str, str]) -> None:
        body = {
            "sync_response_seconds": 30,
            "result_ttl_hours": 24,
            "upload_limit_mb": 10,
            "concurrency_per_slot": 2,
            "concurrency_per_provider": 8,
            "ingest_hash_mode": "strict",
        }
        resp = _put(client, auth, body)
        assert resp.status_code == 200
        assert {k: resp.get_json()[k] for k in body} == body
        assert {k: client.get("/api/settings", headers=auth).get_json()[k] for k in body} == body

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"sync_response_seconds": 9}, "sync_response_seconds"),
            ({"sync_response_seconds": 61}, "sync_response_seconds"),
            ({"sync_response_seconds": "48"}, "sync_response_seconds"),
            ({"result_ttl_hours": 0}, "result_ttl_hours"),
            ({"result_ttl_hours": 721}, "result_ttl_hours"),
            ({"upload_limit_mb": 21}, "upload_limit_mb"),
            ({"concurrency_per_slot": 0}, "concurrency_per_slot"),
            ({"concurrency_per_provider": 1001}, "concurrency_per_provider"),
            ({"ingest_hash_mode": "paranoid"}, "ingest_hash_mode"),
            ({"ingest_password": "123"}, "ingest_password"),
            ({"ingest_password": "1234567"}, "ingest_password"),
            ({"ingest_password": 123456}, "ingest_password"),
            ({"provider_keys": {"openai": "k"}}, "provider_keys.openai"),
            ({"provider_keys": {"gemini": 5}}, "provider_keys.gemini"),
            ({"provider_keys": "k"}, "provider_keys"),
            ({"api_key": "k"}, "api_key"),
        ],
    )
    def test_wrong_values_are_400_naming_the_field(
        self, client: FlaskClient, auth: dict[str, str], body: dict[str, Any], field: str
    ) -> None:
        resp = _put(client, auth, body)
        assert resp.status_code == 400, resp.get_json()
        assert resp.get_json()["field"] == field
        assert field in resp.get_json()["message"]
        assert client.get("/api/settings", headers=auth).get_json()["sync_response_seconds"] == 48

    def test_a_booth_password_shorter_than_8_characters_is_refused_in_russian(
        self, client: FlaskClient, auth: dict[str, str], runner
    ) -> None:
        resp = _put(client, auth, {"ingest_password": "7-chars"})
        assert resp.status_code == 400
        assert resp.get_json()["message"] == "Поле «ingest_password»: не короче 8 символов"
        assert _put(client, auth, {"ingest_password": "8-chars!"}).status_code == 200
        refused = runner.invoke(args=["set-ingest-password", "--password", "7-chars"])
        assert refused.exit_code != 0 and "at least 8 characters" in refused.output
        generated = runner.invoke(args=["set-ingest-password"])  # what make run does
        assert generated.exit_code == 0
        assert len(generated.output.split("ingest password: ")[1].strip()) >= 8

    def test_ingest_password_rotation(self, client: FlaskClient, auth: dict[str, str]) -> None:
        resp = _put(client, auth, {"ingest_password": "studio-2026"})
        assert resp.status_code == 200
        body = resp.get_json()
        assert body["ingest_password_rotated_by"] == ADMIN_USER
        assert "studio-2026" not in resp.get_data(as_text=True)

        def ingest(password: str) -> int:
            files = {"password": password, "fileToUpload": (jpeg_bytes_io(), "a.jpg")}
            return client.post("/ingest/slot-001", data=files).status_code

        assert ingest("123456") == 401
        assert ingest("studio-2026") == 200

    def test_a_password_longer_than_bcrypts_72_bytes_is_saved_and_checked(
        self, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        long = "фотобудка-" * 7  # 70 characters (the schema allows 72), 133 bytes: bcrypt reads 72
        assert _put(client, auth, {"ingest_password": long}).status_code == 200
        files = {"password": long, "fileToUpload": (jpeg_bytes_io(), "a.jpg")}
        assert client.post("/ingest/slot-001", data=files).status_code == 200


def jpeg_bytes_io() -> Any:
    import io

    return io.BytesIO(jpeg_bytes())


class TestProviderKeys:
    def test_a_saved_key_is_never_returned_and_is_encrypted_at_rest(
        self, app: Flask, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        resp = _put(client, auth, {"provider_keys": {"gemini": SECRET_KEY_VALUE}})
        assert resp.status_code == 200
        assert SECRET_KEY_VALUE not in resp.get_data(as_text=True)
        status = client.get("/api/settings", headers=auth).get_json()["provider_keys"]["gemini"]
        assert status["configured"] is True and status["source"] == "settings" and status["updated_at"]
        for path in ("/api/settings", "/api/slots/slot-001", "/api/slots"):
            assert SECRET_KEY_VALUE not in client.get(path, headers=auth).get_data(as_text=True)
        with app.app_context():
            stored = json.dumps(db.session.get(AppSetting, "provider_key.gemini").value)  # type: ignore[union-attr]
            assert SECRET_KEY_VALUE not in stored
            assert provider_api_key("gemini") == SECRET_KEY_VALUE

    def test_the_settings_key_wins_over_the_environment_and_removal_falls_back(
        self, app: Flask, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        app.config["GEMINI_API_KEY"] = "env-key"
        with app.app_context():
            assert provider_api_key("gemini") == "env-key"
        _put(client, auth, {"provider_keys": {"gemini": "admin-key"}})
        with app.app_context():
            assert provider_api_key("gemini") == "admin-key"
        _put(client, auth, {"provider_keys": {"gemini": ""}})
        with app.app_context():
            assert provider_api_key("gemini") == "env-key"
            assert key_status("gemini")["source"] == "environment"
        _put(client, auth, {"provider_keys": {"gemini": None}})
        status = client.get("/api/settings", headers=auth).get_json()["provider_keys"]["gemini"]
        assert status["source"] == "environment"

    def test_a_key_saved_under_another_secret_is_reported_unreadable(
        self, app: Flask, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        _put(client, auth, {"provider_keys": {"turbotext": "tt-key"}})
        app.config["SECRET_KEY"] = "rotated-secret-0123456789abcdef0123456789"
        with app.app_context():
            assert provider_api_key("turbotext") is None
            status = key_status("turbotext")
        assert status["configured"] is False and status["unreadable"] is True


class TestLiveServer:
    """Real gunicorn, two gevent workers, a real HTTP Gemini mock."""

    def test_settings_changes_reach_the_next_ingest_in_every_worker(
        self, live_server, credentials_file: str
    ) -> None:
        with MockGemini(api_key="k-from-settings") as gemini:
            server = live_server(workers=2, GEMINI_API_BASE=gemini.url)
            http = requests.Session()
            login = http.post(
                f"{server.url}/api/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

            slot = {"provider": "gemini", "settings": {"prompt": "Портрет в студии"}}
            assert http.put(f"{server.url}/api/slots/slot-001", json=slot, headers=headers).status_code == 200

            def ingest(password: str, width: int) -> requests.Response:
                # Distinct photos: the same bytes again would be answered from the earlier job.
                files = {"fileToUpload": ("a.jpg", jpeg_bytes(width=width, height=200), "image/jpeg")}
                # A new connection per request, so both workers take turns.
                return requests.post(
                    f"{server.url}/ingest/slot-001", data={"password": password}, files=files
                )

            # No key anywhere yet: the booth gets 503 not_configured.
            assert ingest("123456", 100).json()["failure_reason"] == "not_configured"

            put = http.put(
                f"{server.url}/api/settings",
                json={"provider_keys": {"gemini": "k-from-settings"}, "ingest_password": "new-booth-pw"},
                headers=headers,
            )
            assert put.status_code == 200
            assert "k-from-settings" not in put.text

            for i in range(6):
                assert ingest("123456", 200 + i).status_code == 401  # the old password is gone everywhere
                ok = ingest("new-booth-pw", 300 + i)
                assert ok.status_code == 200, ok.text
                assert ok.headers["Content-Type"].startswith("image/")
            assert {r.headers["x-goog-api-key"] for r in gemini.generate_requests} == {"k-from-settings"}
            assert len(gemini.generate_requests) == 6
