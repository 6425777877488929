"""Request ids, the http.request access line, and redaction of secrets and personal fields."""

from __future__ import annotations

import io
import json
import logging

from photochanger.auth.passwords import hash_password
from photochanger.extensions import db
from photochanger.settings.store import save_setting
from tests.conftest import INGEST_PASSWORD
from tests.support.booth import BOOTH_FIELDS, post_photo
from tests.support.images import jpeg_bytes
from tests.support.ops import ensure_admin_credentials


def _records(caplog, event):
    return [r for r in caplog.records if getattr(r, "event", None) == event]


def test_request_id_generated_and_echoed(client):
    resp = client.get("/api/jobs/unknown")
    generated = resp.headers["X-Request-Id"]
    assert len(generated) == 32
    given = client.get("/api/jobs/unknown", headers={"X-Request-Id": "booth-7.abc:1"})
    assert given.headers["X-Request-Id"] == "booth-7.abc:1"
    # a header that could break log parsers is replaced, not echoed
    odd = client.get("/api/jobs/unknown", headers={"X-Request-Id": 'x" y'})
    assert odd.headers["X-Request-Id"] != 'x" y' and len(odd.headers["X-Request-Id"]) == 32


def test_access_line_has_slot_job_provider_duration_outcome(client, caplog):
    caplog.set_level(logging.INFO, logger="photochanger")
    resp = client.post(
        "/ingest/slot-001",
        data={"fileToUpload": (io.BytesIO(jpeg_bytes()), "a.jpg"), "password": INGEST_PASSWORD},
        content_type="multipart/form-data",
        headers={"X-Request-Id": "req-42"},
    )
    assert resp.status_code == 200
    (line,) = _records(caplog, "http.request")
    assert line.request_id == "req-42"
    assert line.slot_id == "slot-001"
    assert line.job_id == resp.headers["X-Job-Id"]
    assert line.provider == "local" and line.outcome == "done"
    assert line.status == 200 and line.method == "POST" and isinstance(line.duration_ms, int)
    # every line written during the request carries its id
    (done,) = _records(caplog, "ingest.done")
    assert done.request_id == "req-42"


def test_access_line_of_a_rejection(client, caplog):
    caplog.set_level(logging.INFO, logger="photochanger")
    resp = client.post("/ingest/slot-099?token=survey-answer", data={})
    assert resp.status_code == 404
    (line,) = _records(caplog, "http.request")
    assert line.failure_reason == "slot_not_found" and line.outcome == "rejected"
    assert line.path == "/ingest/slot-099"  # no query string: booth URLs may carry survey answers
    assert "survey-answer" not in caplog.text


def test_redaction_of_keys_bytes_and_request_values(app, client, caplog):
    """Whatever a call site passes, secrets and the request's form values never reach the log."""
    log = logging.getLogger("photochanger.test")
    caplog.set_level(logging.INFO, logger="photochanger")

    # Registered as an ingest endpoint: there every booth field counts as personal.
    @app.post("/_test/careless", endpoint="ingest.careless")
    def careless():
        from flask import request

        log.warning(
            "user %s from %s",
            request.form["user_id"],
            request.form["profile"],
            extra={
                "password": request.form["password"],
                "api_key": "AIza-secret",
                "photo_bytes": b"\xff\xd8" * 1000,
                "note": f"name={request.form['name']}",
                "nested": {"token": "t0k3n", "ok": "kept"},
            },
        )
        raise RuntimeError(f"failed for {request.form['name']}")

    resp = client.post(
        "/_test/careless",
        data={
            "user_id": "Acer-User",
            "profile": "C:\\setup_Serg.xml",
            "password": "pa55word",
            "name": "DESKTOP-K968",
        },
    )
    assert resp.status_code == 500
    text = caplog.text + "".join(json.dumps(vars(r), default=str) for r in caplog.records)
    for secret in ("Acer-User", "setup_Serg.xml", "pa55word", "AIza-secret", "DESKTOP-K968", "t0k3n"):
        assert secret not in text, secret
    (record,) = [r for r in caplog.records if r.name == "photochanger.test"]
    assert record.photo_bytes == "<2000 bytes>"
    assert record.nested == {"token": "[redacted]", "ok": "kept"}
    assert "[redacted]" in record.getMessage()
    errors = [r for r in caplog.records if getattr(r, "event", None) == "error.unhandled"]
    assert errors and "RuntimeError" in errors[0].exc and "[redacted]" in errors[0].exc


def test_outside_ingest_only_secret_named_fields_are_scrubbed(app, client, caplog):
    """Admin usernames must stay in auth logs; their passwords must not."""
    log = logging.getLogger("photochanger.test")
    caplog.set_level(logging.INFO, logger="photochanger")

    @app.post("/_test/login-like")
    def login_like():
        from flask import request

        log.info("login", extra={"username": request.form["username"], "note": request.form["password"]})
        return "ok"

    client.post("/_test/login-like", data={"username": "serg", "password": "Adm1n-Secret"})
    (record,) = [r for r in caplog.records if r.name == "photochanger.test"]
    assert record.username == "serg"
    assert record.note == "[redacted]"


def test_real_ingest_log_has_no_password_or_personal_fields(app, app_env, live_server):
    """A booth request through gunicorn: grep the server's whole log output."""
    password = "Booth-Pa55-Unique"
    with app.app_context():
        save_setting("ingest_password_hash", hash_password(password, rounds=4), "tests")
        db.session.commit()
    ensure_admin_credentials(app_env["ADMIN_CREDENTIALS_FILE"])
    server = live_server()
    photo = jpeg_bytes(color=(222, 10, 10))
    ok = post_photo(server.url, photo, password=password, filename="IMG_7781.JPG", hash_value="0" * 40)
    assert ok.status_code == 200, ok.text
    bad = post_photo(server.url, photo, password="Wrong-Pa55-Unique", extra={"survey": "my-secret-answer"})
    assert bad.status_code == 401
    server.stop()
    log = server.log()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(line.get("event") == "http.request" and line.get("status") == 200 for line in lines)
    assert any(line.get("event") == "ingest.hash_mismatch" for line in lines)
    for value in (password, "Wrong-Pa55-Unique", "my-secret-answer", "IMG_7781", *BOOTH_FIELDS.values()):
        assert value not in log, value
