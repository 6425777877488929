"""Admin login, JWT checks, cookie sessions with CSRF, throttling, credentials file."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import stat
import uuid
import warnings

import jwt as pyjwt
import pytest
from flask import Flask
from flask.testing import FlaskClient

from photochanger import create_app
from photochanger.auth.session import check_credentials_at_start
from tests.conftest import JWT_TEST_SECRET

from .conftest import ADMIN_PASSWORD, ADMIN_USER, write_credentials

#: Every admin endpoint: each must refuse a request without a valid token.
ADMIN_ENDPOINTS = [
    ("GET", "/api/me"),
    ("GET", "/api/slots"),
    ("GET", "/api/slots/slot-001"),
    ("PUT", "/api/slots/slot-001"),
    ("POST", "/api/slots/slot-001/test-run"),
    ("POST", "/api/slots/slot-001/cleanup"),
    ("POST", "/api/slots/slot-001/gallery-token"),
    ("GET", "/api/slots/slot-001/results/abc/preview"),
    ("POST", "/api/template-media/register"),
    ("GET", "/api/template-media/" + "a" * 32),
    ("DELETE", "/api/template-media/" + "a" * 32),
    ("POST", "/api/media/register"),
    ("GET", "/api/media/" + "a" * 32),
    ("GET", "/api/settings"),
    ("PUT", "/api/settings"),
    ("GET", "/api/stats/overview"),
]


def _claims(**overrides: object) -> dict[str, object]:
    now = dt.datetime.now(dt.UTC)
    claims: dict[str, object] = {
        "sub": ADMIN_USER,
        "iat": now,
        "nbf": now,
        "jti": uuid.uuid4().hex,
        "type": "access",
        "fresh": False,
        "exp": now + dt.timedelta(hours=1),
    }
    claims.update(overrides)
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _bad_tokens(good: str) -> dict[str, str | None]:
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "intruder"
    tampered = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    alg_none = (
        f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims).encode())}."
    )
    expired = pyjwt.encode(
        _claims(exp=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)), JWT_TEST_SECRET, algorithm="HS256"
    )
    foreign = pyjwt.encode(_claims(), "another-secret-0123456789abcdef0123456789", algorithm="HS256")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns that the key is short for SHA-512
        hs512 = pyjwt.encode(_claims(), JWT_TEST_SECRET, algorithm="HS512")
    return {
        "missing": None,
        "garbage": "not-a-jwt",
        "tampered": tampered,
        "alg_none": alg_none,
        "expired": expired,
        "wrong_secret": foreign,
        "hs512": hs512,
    }


def _login(client: FlaskClient, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD, **kw: object):
    return client.post("/api/login", json={"username": username, "password": password}, **kw)


class TestLogin:
    def test_right_password_gives_a_bearer_token(self, client: FlaskClient, credentials_file: str) -> None:
        resp = _login(client)
        assert resp.status_code == 200
        body = resp.get_json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 12 * 3600
        assert resp.headers["Cache-Control"] == "no-store"
        header = pyjwt.get_unverified_header(body["access_token"])
        assert header["alg"] == "HS256"
        me = client.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.get_json()["username"] == ADMIN_USER

    def test_wrong_password_is_401_invalid_credentials(
        self, client: FlaskClient, credentials_file: str
    ) -> None:
        resp = _login(client, password="nope")
        assert resp.status_code == 401
        assert resp.get_json()["failure_reason"] == "invalid_credentials"
        assert resp.get_json()["message"] == "Неверное имя пользователя или пароль"

    def test_unknown_user_answers_like_a_wrong_password(
        self, client: FlaskClient, credentials_file: str
    ) -> None:
        resp = _login(client, username="ghost")
        assert resp.status_code == 401
        assert resp.get_json()["failure_reason"] == "invalid_credentials"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"password": "x"}, "username"),
            ({"username": "serg"}, "password"),
            ({"username": 5, "password": "x"}, "username"),
            ({"username": "serg", "password": ""}, "password"),
        ],
    )
    def test_missing_fields_are_400_naming_the_field(
        self, client: FlaskClient, credentials_file: str, body: dict[str, object], field: str
    ) -> None:
        resp = client.post("/api/login", json=body)
        assert resp.status_code == 400
        assert resp.get_json()["field"] == field
        assert field in resp.get_json()["message"]

    def test_a_json_list_body_is_400(self, client: FlaskClient, credentials_file: str) -> None:
        resp = client.post("/api/login", json=["serg", "pw"])
        assert resp.status_code == 400
        assert resp.get_json()["field"] == "body"

    def test_events_are_logged_without_the_password(
        self, client: FlaskClient, credentials_file: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="photochanger.auth")
        _login(client, password="wrong-secret-word")
        _login(client)
        records = [r for r in caplog.records if r.name == "photochanger.auth"]
        events = [(r.event, getattr(r, "reason", None), r.username, r.ip) for r in records]  # type: ignore[attr-defined]
        assert events == [
            ("auth.login.failure", "invalid_credentials", ADMIN_USER, "127.0.0.1"),
            ("auth.login.success", None, ADMIN_USER, "127.0.0.1"),
        ]
        text = " ".join(json.dumps(vars(r), default=str) for r in caplog.records)
        assert "wrong-secret-word" not in text and ADMIN_PASSWORD not in text
        assert all(hasattr(r, "time") for r in records)


class TestTokens:
    @pytest.mark.parametrize(("method", "path"), ADMIN_ENDPOINTS)
    def test_every_endpoint_refuses_a_bad_token(
        self, client: FlaskClient, admin_token: str, method: str, path: str
    ) -> None:
        # One app per endpoint, every bad token against it (a fresh database per case is slow on PostgreSQL).
        for kind, token in _bad_tokens(admin_token).items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            resp = client.open(path, method=method, headers=headers, json={})
            assert resp.status_code == 401, (kind, resp.get_json())
            body = resp.get_json()
            assert body["status"] == "error", kind
            assert body["failure_reason"] == "unauthorized", kind
            assert any("а" <= ch <= "я" for ch in body["message"].lower()), kind  # Russian

    def test_the_good_token_passes(self, client: FlaskClient, auth: dict[str, str]) -> None:
        assert client.get("/api/slots", headers=auth).status_code == 200

    def test_removing_the_account_ends_its_sessions(
        self, client: FlaskClient, auth: dict[str, str], credentials_file: str
    ) -> None:
        write_credentials(credentials_file, {"other": "pw-pw-pw"})
        resp = client.get("/api/slots", headers=auth)
        assert resp.status_code == 401
        assert "не существует" in resp.get_json()["message"]


class TestCookieSession:
    def test_cookie_login_sets_httponly_jwt_and_readable_csrf_cookie(
        self, client: FlaskClient, credentials_file: str
    ) -> None:
        resp = client.post(
            "/api/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD, "cookie": True}
        )
        assert resp.status_code == 200
        body = resp.get_json()
        assert body["token_type"] == "cookie" and "access_token" not in body
        cookies = {c.split("=", 1)[0]: c for c in resp.headers.getlist("Set-Cookie")}
        assert "HttpOnly" in cookies["access_token_cookie"]
        assert "SameSite=Lax" in cookies["access_token_cookie"]
        assert "HttpOnly" not in cookies["csrf_access_token"]

    def test_query_flag_also_asks_for_the_cookie(self, client: FlaskClient, credentials_file: str) -> None:
        resp = client.post("/api/login?cookie=1", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
        assert client.get_cookie("access_token_cookie") is not None
        assert resp.get_json()["token_type"] == "cookie"

    def test_reads_need_no_csrf_but_writes_do(self, client: FlaskClient, credentials_file: str) -> None:
        client.post("/api/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD, "cookie": True})
        csrf = client.get_cookie("csrf_access_token")
        assert csrf is not None
        assert client.get("/api/slots").status_code == 200

        refused = client.put("/api/slots/slot-001", json={"display_name": "Свадьба"})
        assert refused.status_code == 403
        assert refused.get_json()["failure_reason"] == "csrf_failed"
        wrong = client.put(
            "/api/slots/slot-001", json={"display_name": "Свадьба"}, headers={"X-CSRF-TOKEN": "x"}
        )
        assert wrong.status_code == 403

        ok = client.put(
            "/api/slots/slot-001", json={"display_name": "Свадьба"}, headers={"X-CSRF-TOKEN": csrf.value}
        )
        assert ok.status_code == 200
        assert ok.get_json()["display_name"] == "Свадьба"

    def test_logout_clears_the_cookies(self, client: FlaskClient, credentials_file: str) -> None:
        client.post("/api/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD, "cookie": True})
        assert client.post("/api/logout").status_code == 200
        assert client.get_cookie("access_token_cookie") is None
        assert client.get("/api/slots").status_code == 401


class TestThrottle:
    def test_eleventh_attempt_is_429_even_with_the_right_password(
        self, client: FlaskClient, credentials_file: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        for _ in range(10):
            assert _login(client, password="bad").status_code == 401
        caplog.set_level(logging.INFO, logger="photochanger.auth")
        caplog.clear()
        locked = _login(client)  # the right password
        assert locked.status_code == 429
        assert locked.get_json()["failure_reason"] == "throttled"
        assert 14 * 60 <= int(locked.headers["Retry-After"]) <= 15 * 60
        assert _login(client, password="bad").status_code == 429
        reasons = [getattr(r, "reason", None) for r in caplog.records if r.name == "photochanger.auth"]
        assert reasons == ["throttled", "throttled"]

    def test_the_lock_is_per_username_and_ip(self, client: FlaskClient, credentials_file: str) -> None:
        write_credentials(credentials_file, {ADMIN_USER: ADMIN_PASSWORD, "anna": "anna-pass"})
        for _ in range(10):
            _login(client, password="bad")
        assert _login(client, "anna", "anna-pass").status_code == 200
        other_ip = {"environ_base": {"REMOTE_ADDR": "10.0.0.7"}}
        assert _login(client, **other_ip).status_code == 200

    def test_one_ip_trying_many_usernames_is_rate_limited(
        self, client: FlaskClient, credentials_file: str
    ) -> None:
        # The per-username lock cannot stop this; the per-IP limit bounds the bcrypt work.
        # (Known accounts with cheap hashes: unknown names cost a full-strength bcrypt each.)
        write_credentials(credentials_file, {f"user{i}": "pw-pw-pw" for i in range(100)})
        codes = [_login(client, username=f"user{i}", password="x").status_code for i in range(61)]
        assert codes[:60] == [401] * 60
        assert codes[60] == 429
        assert (
            _login(client, username="user99", password="x").get_json()["failure_reason"]
            == "too_many_requests"
        )

    def test_a_success_resets_the_failure_count(self, client: FlaskClient, credentials_file: str) -> None:
        for _ in range(9):
            _login(client, password="bad")
        assert _login(client).status_code == 200
        for _ in range(9):
            assert _login(client, password="bad").status_code == 401
        assert _login(client).status_code == 200


@pytest.fixture
def no_credentials_file(app_env: dict[str, str]) -> str:
    """A deployment whose credentials file is missing."""
    path = app_env["ADMIN_CREDENTIALS_FILE"]
    if os.path.exists(path):
        os.remove(path)
    return path


class TestCredentialsFile:
    def test_missing_file_is_503_at_login_not_500(
        self, client: FlaskClient, no_credentials_file: str
    ) -> None:
        resp = _login(client)
        assert resp.status_code == 503
        assert resp.get_json()["failure_reason"] == "admin_not_configured"

    @pytest.mark.parametrize(
        ("content", "problem"),
        [
            (None, "not found"),
            ("{not json", "not valid JSON"),
            ('{"users": []}', '{"admins": [...]}'),
            ('{"admins": []}', "at least one account"),
            ('{"admins": [{"password_hash": "x"}]}', "admins[0].username"),
            ('{"admins": [{"username": "serg", "password_hash": "plain"}]}', "not a bcrypt hash"),
        ],
    )
    def test_start_up_check_names_the_file_and_the_problem(
        self, app: Flask, no_credentials_file: str, content: str | None, problem: str
    ) -> None:
        path = no_credentials_file
        if content is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(content)
        with pytest.raises(RuntimeError) as err:
            check_credentials_at_start(app)
        assert path in str(err.value)
        assert problem in str(err.value)

    def test_valid_file_passes_the_start_up_check(self, app: Flask, credentials_file: str) -> None:
        check_credentials_at_start(app)

    def test_gunicorn_refuses_to_start_without_the_file(self, live_server, no_credentials_file: str) -> None:
        with pytest.raises(RuntimeError) as err:
            live_server()
        assert "gunicorn exited early" in str(err.value)
        assert f"admin credentials file {no_credentials_file} not found" in str(err.value)


class TestBootstrap:
    def test_creates_the_file_and_prints_a_working_password(
        self, runner, client: FlaskClient, no_credentials_file: str
    ) -> None:
        result = runner.invoke(args=["admin-bootstrap"])
        assert result.exit_code == 0, result.output
        password = result.output.split("admin password: ")[1].split()[0]
        path = no_credentials_file
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert _login(client, "admin", password).status_code == 200

    def test_keeps_a_valid_file(self, runner, credentials_file: str) -> None:
        before = open(credentials_file).read()
        result = runner.invoke(args=["admin-bootstrap"])
        assert result.exit_code == 0 and "valid" in result.output
        assert open(credentials_file).read() == before

    def test_fails_loudly_on_a_malformed_file(self, runner, app_env: dict[str, str]) -> None:
        path = app_env["ADMIN_CREDENTIALS_FILE"]
        with open(path, "w") as fh:
            fh.write("[]")
        result = runner.invoke(args=["admin-bootstrap"])
        assert result.exit_code != 0
        assert "malformed" in result.output and path in result.output
        assert open(path).read() == "[]"  # never overwritten

    def test_adds_the_briefs_two_admins_one_command_each(
        self, runner, client: FlaskClient, no_credentials_file: str
    ) -> None:
        passwords = {}
        for name in ("serg", "igor"):
            result = runner.invoke(args=["admin-bootstrap", "--username", name])
            assert result.exit_code == 0, result.output
            passwords[name] = result.output.split("admin password: ")[1].split()[0]
        assert "added to" in result.output
        assert stat.S_IMODE(os.stat(no_credentials_file).st_mode) == 0o600
        for name, password in passwords.items():
            assert _login(client, name, password).status_code == 200

    def test_an_existing_account_keeps_its_password(
        self, runner, client: FlaskClient, no_credentials_file: str
    ):
        first = runner.invoke(args=["admin-bootstrap", "--username", "serg"])
        password = first.output.split("admin password: ")[1].split()[0]
        again = runner.invoke(args=["admin-bootstrap", "--username", "serg"])
        assert again.exit_code == 0 and "kept" in again.output and "password" not in again.output
        assert _login(client, "serg", password).status_code == 200

    def test_list_admins_prints_names_never_hashes(self, runner, no_credentials_file: str) -> None:
        for name in ("serg", "igor"):
            runner.invoke(args=["admin-bootstrap", "--username", name])
        result = runner.invoke(args=["list-admins"])
        assert result.exit_code == 0
        assert result.output.split() == ["serg", "igor"]
        assert "$2b$" not in result.output

    def test_list_admins_names_a_missing_file(self, runner, no_credentials_file: str) -> None:
        result = runner.invoke(args=["list-admins"])
        assert result.exit_code != 0 and no_credentials_file in result.output


class TestSigningSecret:
    def test_without_jwt_secret_key_a_persisted_instance_secret_is_shared(
        self, app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, credentials_file: str
    ) -> None:
        for key, value in app_env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("JWT_SECRET_KEY")
        monkeypatch.delenv("SECRET_KEY", raising=False)
        first, second = create_app({"TESTING": True}), create_app({"TESTING": True})
        secret_file = os.path.join(app_env["INSTANCE_PATH"], "jwt_secret")
        assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
        assert first.config["JWT_SECRET_KEY"] == second.config["JWT_SECRET_KEY"] != JWT_TEST_SECRET
        token = _login(first.test_client()).get_json()["access_token"]
        # A token from one worker (or before a restart) is accepted by another.
        resp = second.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200
