"""An admin's bearer token stands in for a key on /api/v1: every slot and every key's jobs, no webhook."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from photochanger.extensions import db
from photochanger.models import ApiBatch, ApiTask
from tests.support.app import ADMIN_USERNAME
from tests.support.images import jpeg_bytes

pytestmark = pytest.mark.db


def _photo_job(client, headers, **fields):
    data = {"slot_id": "slot-001", "photo": (io.BytesIO(jpeg_bytes(64, 48)), "a.jpg"), **fields}
    return client.post("/api/v1/jobs", data=data, headers=headers, content_type="multipart/form-data")


def _task_count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(ApiTask)).scalar_one()


def test_an_admin_token_submits_and_follows_jobs_without_a_key(app, client, auth):
    resp = _photo_job(client, auth)
    assert resp.status_code == 202, resp.get_json()
    job_id = resp.get_json()["job_id"]
    assert client.get(f"/api/v1/jobs/{job_id}", headers=auth).status_code == 200
    with app.app_context():
        assert db.session.get(ApiTask, job_id).key_id is None


def test_an_admin_sees_every_keys_job_and_a_key_never_sees_the_admins(app, client, auth, key):
    by_key = _photo_job(client, key).get_json()["job_id"]
    by_admin = _photo_job(client, auth).get_json()["job_id"]
    assert client.get(f"/api/v1/jobs/{by_key}", headers=auth).status_code == 200
    hidden = client.get(f"/api/v1/jobs/{by_admin}", headers=key)
    assert hidden.status_code == 404
    assert hidden.get_json()["failure_reason"] == "job_not_found"


def test_a_webhook_needs_a_key_whose_secret_signs_it(app, client, auth):
    resp = _photo_job(client, auth, webhook_url="https://partner.example/hook")
    assert resp.status_code == 403
    assert resp.get_json()["failure_reason"] == "forbidden"
    assert "ключ" in resp.get_json()["message"]
    assert _task_count(app) == 0


def test_whoami_names_the_admin_and_no_key(client, auth):
    body = client.get("/api/v1/key", headers=auth).get_json()
    assert body == {"key_id": None, "name": ADMIN_USERNAME, "slot_ids": None}


def test_an_admin_batch_through_v1_is_recorded_as_the_admins(app, client, auth):
    form = {"slot_id": "slot-002", "photos": [(io.BytesIO(jpeg_bytes(64, 48)), "a.jpg")]}
    resp = client.post("/api/v1/batches", data=form, headers=auth, content_type="multipart/form-data")
    assert resp.status_code == 202, resp.get_json()
    batch_id = resp.get_json()["batch_id"]
    assert client.get(f"/api/v1/batches/{batch_id}", headers=auth).status_code == 200
    with app.app_context():
        batch = db.session.get(ApiBatch, batch_id)
        assert batch.key_id is None and batch.created_by == ADMIN_USERNAME


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic YWRtaW46eA=="},
    ],
    ids=["nothing", "bad-token", "basic"],
)
def test_without_a_key_or_a_valid_admin_token_it_is_401(client, headers):
    resp = client.get("/api/v1/key", headers=headers)
    assert resp.status_code == 401
    assert "X-API-Key" in resp.get_json()["message"]


def test_a_logged_out_admin_token_is_refused(client, auth):
    assert client.post("/api/logout", headers=auth).status_code == 200
    assert client.get("/api/v1/key", headers=auth).status_code == 401


def test_a_wrong_key_is_refused_even_next_to_an_admin_token(client, auth):
    resp = client.get("/api/v1/key", headers={**auth, "X-API-Key": "pc_wrong"})
    assert resp.status_code == 401
    assert resp.get_json()["message"] == "Ключ API неверен или отозван"


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_key_is_refused_even_next_to_an_admin_token(client, auth, blank):
    resp = client.get("/api/v1/key", headers={**auth, "X-API-Key": blank})
    assert resp.status_code == 401
    assert resp.get_json()["message"] == "Пустой ключ API в заголовке X-API-Key"
