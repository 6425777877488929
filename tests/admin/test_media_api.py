"""Template media and temporary uploads."""

from __future__ import annotations

import io
import os

import pytest
from flask import Flask
from flask.testing import FlaskClient

from photochanger.extensions import db
from photochanger.models import MediaObject
from photochanger.runtime import services
from tests.support.images import jpeg_bytes, png_bytes

pytestmark = pytest.mark.db


def _register(client: FlaskClient, auth: dict[str, str], data: bytes | None = None, **fields: str):
    form: dict[str, object] = {"slot_id": "slot-001", "media_kind": "overlay", **fields}
    if data is not None:
        form["file"] = (io.BytesIO(data), "frame.png")
    return client.post("/api/template-media/register", headers=auth, data=form)


class TestTemplateMedia:
    def test_register_stores_binds_and_bumps_the_version(
        self, app: Flask, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        version = client.get("/api/slots/slot-001", headers=auth).get_json()["version"]
        resp = _register(client, auth, png_bytes(alpha=True))
        assert resp.status_code == 201, resp.get_json()
        body = resp.get_json()
        assert body["mime"] == "image/png" and body["media_kind"] == "overlay" and body["position"] == 0
        assert body["slot_version"] == version + 1
        with app.app_context():
            media = db.session.get(MediaObject, body["id"])
            assert media is not None
            assert (media.kind, media.expires_at, media.slot_id) == ("template", None, "slot-001")
            assert media.path.startswith("templates/slot-001/")
            assert os.path.exists(services().store.abspath(media.path))
        slot = client.get("/api/slots/slot-001", headers=auth).get_json()
        assert [t["media_object_id"] for t in slot["template_media"]] == [body["id"]]
        download = client.get(body["url"], headers=auth)
        assert download.status_code == 200 and download.data == png_bytes(alpha=True)

    def test_an_overlay_slot_uses_the_template(self, client: FlaskClient, auth: dict[str, str]) -> None:
        _register(client, auth, png_bytes(alpha=True))
        assert (
            client.put("/api/slots/slot-001", headers=auth, json={"operation": "overlay"}).status_code == 200
        )
        photo = {"test_image": (io.BytesIO(jpeg_bytes()), "t.jpg")}
        assert client.post("/api/slots/slot-001/test-run", headers=auth, data=photo).status_code == 200

    def test_the_type_is_judged_by_the_bytes(self, client: FlaskClient, auth: dict[str, str]) -> None:
        resp = _register(client, auth, b"GIF89a" + b"\0" * 100)
        assert resp.status_code == 415
        assert resp.get_json()["failure_reason"] == "unsupported_media_type"

    def test_missing_or_wrong_fields_are_400_naming_the_field(
        self, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        assert _register(client, auth, None).get_json()["field"] == "file"
        assert _register(client, auth, png_bytes(), slot_id="").get_json()["field"] == "slot_id"
        wrong_kind = _register(client, auth, png_bytes(), media_kind="hat")
        assert wrong_kind.status_code == 400 and wrong_kind.get_json()["field"] == "media_kind"
        assert _register(client, auth, png_bytes(), slot_id="slot-404").status_code == 404

    def test_turbotext_slots_take_one_template(self, client: FlaskClient, auth: dict[str, str]) -> None:
        client.put(
            "/api/slots/slot-001", headers=auth, json={"provider": "turbotext", "operation": "style_transfer"}
        )
        assert _register(client, auth, png_bytes()).status_code == 201
        second = _register(client, auth, png_bytes())
        assert second.status_code == 400 and second.get_json()["field"] == "slot_id"

    def test_delete_unbinds_removes_the_file_and_marks_it_cleaned(
        self, app: Flask, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        media_id = _register(client, auth, png_bytes()).get_json()["id"]
        version = client.get("/api/slots/slot-001", headers=auth).get_json()["version"]
        resp = client.delete(f"/api/template-media/{media_id}", headers=auth)
        assert resp.status_code == 200 and resp.get_json()["slots"] == ["slot-001"]
        slot = client.get("/api/slots/slot-001", headers=auth).get_json()
        assert slot["template_media"] == [] and slot["version"] == version + 1
        with app.app_context():
            media = db.session.get(MediaObject, media_id)
            assert media is not None and media.cleaned_at is not None
            assert not os.path.exists(services().store.abspath(media.path))
        assert client.delete(f"/api/template-media/{media_id}", headers=auth).status_code == 404
        assert client.get(f"/api/template-media/{media_id}", headers=auth).status_code == 404


class TestTemporaryMedia:
    def test_register_expires_like_results(self, client: FlaskClient, auth: dict[str, str]) -> None:
        resp = client.post(
            "/api/media/register", headers=auth, data={"file": (io.BytesIO(jpeg_bytes()), "t.jpg")}
        )
        assert resp.status_code == 201
        body = resp.get_json()
        assert body["kind"] == "temp" and body["mime"] == "image/jpeg" and body["expires_at"]
        assert client.get(body["url"], headers=auth).status_code == 200
        # A temporary upload is not a template: it cannot be fetched or deleted as one.
        assert client.get(f"/api/template-media/{body['id']}", headers=auth).status_code == 404

    def test_not_an_image_is_415(self, client: FlaskClient, auth: dict[str, str]) -> None:
        resp = client.post(
            "/api/media/register", headers=auth, data={"file": (io.BytesIO(b"hello"), "t.txt")}
        )
        assert resp.status_code == 415


@pytest.mark.parametrize("slot_id", ["", " slot-001"])
def test_a_slot_id_outside_the_contracts_pattern_is_refused_not_ignored(
    client: FlaskClient, auth: dict[str, str], slot_id: str
) -> None:
    """The contract's ``slot_id`` is ``slot-001``…``slot-015`` exactly: an empty (400) or padded (404) one
    is refused, not taken for "no slot" or trimmed."""
    status = 400 if slot_id == "" else 404
    photo = {"file": (io.BytesIO(png_bytes()), "a.png"), "slot_id": slot_id}
    assert client.post("/api/media/register", headers=auth, data=photo).status_code == status
    assert _register(client, auth, png_bytes(), slot_id=slot_id).status_code == status
