"""Public slot gallery, result previews and the QR result page (in-process client)."""

import datetime as dt
import io
import json

import pytest

from photochanger.auth.passwords import hash_password
from photochanger.extensions import db
from photochanger.models import JobHistory, Slot
from tests.admin.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.conftest import INGEST_PASSWORD
from tests.support.images import jpeg_bytes, open_image

pytestmark = pytest.mark.db


def _ingest(client, slot_id="slot-001", color=(40, 120, 200)):
    resp = client.post(
        f"/ingest/{slot_id}",
        data={"fileToUpload": (io.BytesIO(jpeg_bytes(color=color)), "IMG.JPG"), "password": INGEST_PASSWORD},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.get_json()
    return resp.headers["X-Job-Id"]


def _token(app, slot_id="slot-001"):
    with app.app_context():
        return db.session.get(Slot, slot_id).gallery_token


def test_gallery_needs_the_slot_token(app, client):
    _ingest(client)
    assert client.get("/public/slots/slot-001").status_code == 404
    resp = client.get("/public/slots/slot-001?token=wrong")
    assert resp.status_code == 404
    assert "Галерея не найдена" in resp.get_data(as_text=True)
    assert client.get(f"/public/slots/slot-999?token={_token(app)}").status_code == 404
    # another slot's token does not open this slot
    assert client.get(f"/public/slots/slot-002?token={_token(app)}").status_code == 404


def test_gallery_lists_live_results_newest_first_with_previews(app, client):
    first = _ingest(client, color=(200, 40, 40))
    second = _ingest(client, color=(40, 200, 40))
    resp = client.get(f"/public/slots/slot-001?token={_token(app)}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert html.index(second) < html.index(first)
    assert f"/public/results/{first}/preview" in html
    assert f'/public/results/{first}"' in html  # download link
    assert resp.headers["Cache-Control"] == "private, no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"

    preview = client.get(f"/public/results/{first}/preview")
    assert preview.status_code == 200
    assert preview.mimetype == "image/webp"
    assert open_image(preview.data).format == "WEBP"


def test_preview_is_rebuilt_when_missing(app, client):
    job_id = _ingest(client)
    media_root = app.config["MEDIA_ROOT"]
    import os

    path = os.path.join(media_root, "results", "slot-001", job_id, "preview.webp")
    if os.path.exists(path):
        os.remove(path)
    resp = client.get(f"/public/results/{job_id}/preview")
    assert resp.status_code == 200
    assert os.path.exists(path)


def test_gallery_hides_expired_results_and_admin_tests(app, client):
    old = _ingest(client, color=(1, 2, 3))
    live = _ingest(client, color=(9, 8, 7))
    with app.app_context():
        job = db.session.get(JobHistory, old)
        job.result_expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        db.session.get(JobHistory, live).source = "ui_test"
        db.session.commit()
    html = client.get(f"/public/slots/slot-001?token={_token(app)}").get_data(as_text=True)
    assert old not in html and live not in html
    assert "пока нет фотографий" in html


def test_result_view_page_and_expiry(app, client):
    job_id = _ingest(client)
    resp = client.get(f"/public/results/{job_id}/view")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Скачать фото" in html and f"/public/results/{job_id}" in html

    assert client.get("/public/results/nope/view").status_code == 404
    with app.app_context():
        job = db.session.get(JobHistory, job_id)
        job.result_expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        db.session.commit()
    expired = client.get(f"/public/results/{job_id}/view")
    assert expired.status_code == 410
    assert "Срок хранения истёк" in expired.get_data(as_text=True)
    gone = client.get(f"/public/results/{job_id}/preview")
    assert gone.status_code == 410
    assert gone.get_json()["failure_reason"] == "result_expired"


def test_admin_pages_redirect_to_login_without_a_session(client):
    for path in ("/admin/", "/admin/slots/slot-001", "/admin/settings", "/admin/stats"):
        resp = client.get(path)
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/admin/login?next=")
    assert client.get("/admin/login").status_code == 200


def test_unknown_slot_page_is_a_russian_404(app_env, client):
    creds = {"admins": [{"username": "pages", "password_hash": hash_password("pages-pass", rounds=4)}]}
    with open(app_env["ADMIN_CREDENTIALS_FILE"], "w", encoding="utf-8") as fh:
        json.dump(creds, fh)
    login = client.post("/api/login", json={"username": "pages", "password": "pages-pass", "cookie": True})
    assert login.status_code == 200, login.get_json()
    assert client.get("/admin/slots/slot-001").status_code == 200
    page = client.get("/admin/slots/slot-099")
    assert page.status_code == 404
    assert "Слот не найден" in page.get_data(as_text=True)


def test_a_signed_in_admin_opens_a_slot_gallery_without_its_token(app, client, admin_token):
    job = _ingest(client)
    bearer = {"Authorization": f"Bearer {admin_token}"}
    for url in ("/public/slots/slot-001", "/public/slots/slot-001?token=wrong"):
        resp = client.get(url, headers=bearer)
        assert resp.status_code == 200
        assert job in resp.get_data(as_text=True)
        assert resp.headers["Cache-Control"] == "private, no-store"
    # the page's own links carry the current token, so «Скачать все» works for anyone it is passed on to
    page = client.get("/public/slots/slot-001", headers=bearer).get_data(as_text=True)
    assert f"token={_token(app)}" in page
    zipped = client.get("/public/slots/slot-001/photos.zip", headers=bearer)
    assert zipped.status_code == 200 and zipped.mimetype == "application/zip"
    # an unknown slot stays 404 for an admin too
    assert client.get("/public/slots/slot-999", headers=bearer).status_code == 404


def test_a_bad_or_revoked_admin_token_is_judged_as_a_guest_without_a_token(app, client, admin_token):
    _ingest(client)
    for value in ("Bearer not-a-jwt", "Bearer " + admin_token[:-4] + "AAAA", "Basic abc"):
        resp = client.get("/public/slots/slot-001", headers={"Authorization": value})
        assert resp.status_code == 404
        assert "Галерея не найдена" in resp.get_data(as_text=True)
    bearer = {"Authorization": f"Bearer {admin_token}"}
    assert client.post("/api/logout", headers=bearer).status_code == 200
    assert client.get("/public/slots/slot-001", headers=bearer).status_code == 404


def test_the_admin_session_cookie_opens_a_slot_gallery_too(app, client, credentials_file):
    _ingest(client)
    assert client.get("/public/slots/slot-001").status_code == 404
    body = {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "cookie": True}
    login = client.post("/api/login", json=body)
    assert login.status_code == 200
    assert client.get("/public/slots/slot-001").status_code == 200
