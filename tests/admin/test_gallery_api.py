"""The all-slots gallery and its time-limited public share links."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from flask import Flask
from flask.testing import FlaskClient

from photochanger.extensions import db
from photochanger.models import GalleryShare
from tests.support.jobs import job_row, stored_result

pytestmark = pytest.mark.db


def _live(slot_id: str, **kw) -> object:
    return job_row(
        slot_id,
        "done",
        result_path=f"results/{slot_id}/x/payload.jpg",
        result_expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        finished_at=dt.datetime.now(dt.UTC),
        **kw,
    )


def _seed(app: Flask, *jobs) -> None:
    with app.app_context():
        db.session.add_all(jobs)
        db.session.commit()


def test_the_gallery_lists_each_slots_guest_results(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    _seed(app, _live("slot-001"), _live("slot-001"), _live("slot-004"), _live("slot-004", source="ui_test"))
    body = client.get("/api/gallery", headers=auth).get_json()
    assert [(s["slot_id"], len(s["results"])) for s in body["slots"]] == [("slot-001", 2), ("slot-004", 1)]
    first = body["slots"][0]["results"][0]
    assert first["preview_url"].startswith("/api/slots/slot-001/results/")
    assert "/public/results/" in first["result_url"]


def test_a_share_opens_all_galleries_until_it_is_revoked(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    _seed(app, _live("slot-002"))
    resp = client.post("/api/gallery/shares", json={"expires_in_hours": 24, "label": "Свадьба"}, headers=auth)
    assert resp.status_code == 201
    share = resp.get_json()
    assert share["created_by"] == "serg" and share["label"] == "Свадьба"
    path = share["url"].split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path)
    assert page.status_code == 200 and "Свадьба" in page.get_data(as_text=True)
    assert 'data-slot-id="slot-002"' in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    listed = client.get("/api/gallery/shares", headers=auth).get_json()["shares"]
    assert [s["id"] for s in listed] == [share["id"]]

    assert client.delete(f"/api/gallery/shares/{share['id']}", headers=auth).status_code == 200
    ended = client.get("/" + path, headers={"Accept": "text/html"})
    assert ended.status_code == 410 and "отозвал" in ended.get_data(as_text=True)
    assert client.get("/api/gallery/shares", headers=auth).get_json()["shares"] == []


def test_an_expired_share_is_410_and_a_wrong_token_404(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    share = client.post("/api/gallery/shares", json={"expires_in_hours": 1}, headers=auth).get_json()
    with app.app_context():
        row = db.session.get(GalleryShare, share["id"])
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        db.session.commit()
    token = share["url"].rsplit("/", 1)[1]
    assert client.get(f"/public/galleries/{token}").status_code == 410
    assert client.get("/public/galleries/not-a-token").status_code == 404
    assert client.get("/public/galleries/" + "x" * 300).status_code == 404


def test_share_input_is_checked(client: FlaskClient, auth: dict[str, str]) -> None:
    for body, field in (
        ({}, "expires_in_hours"),
        ({"expires_in_hours": 0}, "expires_in_hours"),
        ({"expires_in_hours": 721}, "expires_in_hours"),
        ({"expires_in_hours": 1, "x": 1}, "x"),
    ):
        resp = client.post("/api/gallery/shares", json=body, headers=auth)
        assert resp.status_code == 400 and resp.get_json()["field"] == field
    assert client.delete("/api/gallery/shares/nope", headers=auth).status_code == 404
    assert client.post("/api/gallery/shares", json={"expires_in_hours": 1}).status_code == 401


def test_admins_download_a_slot_or_everything(app: Flask, client: FlaskClient, auth: dict[str, str]) -> None:
    stored_result(app, "slot-003", b"a")
    stored_result(app, "slot-004", b"b")
    one = client.get("/api/gallery/slots/slot-003/photos.zip", headers=auth)
    assert [n.split("_")[0] for n in zipfile.ZipFile(io.BytesIO(one.data)).namelist()] == ["slot-003"]
    every = client.get("/api/gallery/photos.zip", headers=auth)
    assert sorted(n.split("_")[0] for n in zipfile.ZipFile(io.BytesIO(every.data)).namelist()) == [
        "slot-003",
        "slot-004",
    ]
    assert client.get("/api/gallery/photos.zip").status_code == 401
    assert client.get("/api/gallery/slots/slot-404/photos.zip", headers=auth).status_code == 404


def test_a_hidden_result_leaves_the_guests_gallery_and_zip_a_pinned_one_leads(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    older = stored_result(app, "slot-006", b"old", minutes_ago=30)
    private = stored_result(app, "slot-006", b"private", minutes_ago=20)
    newest = stored_result(app, "slot-006", b"new", minutes_ago=10)
    with app.app_context():
        from photochanger.models import Slot

        token = db.session.get(Slot, "slot-006").gallery_token
    gallery = f"/public/slots/slot-006?token={token}"

    hide = client.patch(f"/api/gallery/slots/slot-006/results/{private}", json={"hidden": True}, headers=auth)
    assert hide.status_code == 200 and hide.get_json()["hidden"] is True
    pin = client.patch(f"/api/gallery/slots/slot-006/results/{older}", json={"pinned": True}, headers=auth)
    assert pin.get_json()["pinned"] is True

    page = client.get(gallery).get_data(as_text=True)
    assert private not in page
    assert page.index(older) < page.index(newest)  # pinned first
    archive = client.get(f"/public/slots/slot-006/photos.zip?token={token}")
    names = zipfile.ZipFile(io.BytesIO(archive.data)).namelist()
    assert sorted(n.rsplit("_", 1)[1][:8] for n in names) == sorted([older[:8], newest[:8]])
    admin_view = client.get("/api/gallery", headers=auth).get_json()["slots"][0]["results"]
    assert {r["job_id"]: r["hidden"] for r in admin_view}[private] is True  # admins still see it
    assert client.get(f"/public/results/{private}").status_code == 200  # the guest's own link still works

    client.patch(f"/api/gallery/slots/slot-006/results/{private}", json={"hidden": False}, headers=auth)
    assert private in client.get(gallery).get_data(as_text=True)


def test_marking_checks_its_input(app: Flask, client: FlaskClient, auth: dict[str, str]) -> None:
    job_id = stored_result(app, "slot-006", b"a")
    url = f"/api/gallery/slots/slot-006/results/{job_id}"
    assert client.patch(url, json={}, headers=auth).status_code == 400
    assert client.patch(url, json={"hidden": "yes"}, headers=auth).get_json()["field"] == "hidden"
    assert (
        client.patch(
            f"/api/gallery/slots/slot-007/results/{job_id}", json={"pinned": True}, headers=auth
        ).status_code
        == 404
    )
    assert client.patch(url, json={"pinned": True}).status_code == 401
