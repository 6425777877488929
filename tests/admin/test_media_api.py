"""Template media and temporary uploads."""

from __future__ import annotations

import io
import os

import pytest
from flask import Flask
from flask.testing import FlaskClient

from photochanger.admin.media_api import PROVIDER_LINK_LIFETIME
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


class TestProviderLink:
    """An admin publishes a registered image at a provider-media URL to check providers can fetch it."""

    def _temp(self, client: FlaskClient, auth: dict[str, str]) -> str:
        files = {"file": (io.BytesIO(jpeg_bytes()), "t.jpg")}
        return str(client.post("/api/media/register", headers=auth, data=files).get_json()["id"])

    def test_a_test_photo_or_template_is_published_for_a_short_while(
        self, app: Flask, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        template = _register(client, auth, png_bytes(alpha=True)).get_json()["id"]
        for source, data in ((self._temp(client, auth), jpeg_bytes()), (template, png_bytes(alpha=True))):
            resp = client.post(f"/api/media/{source}/provider-link", headers=auth)
            assert resp.status_code == 201, resp.get_json()
            assert resp.headers["Cache-Control"] == "no-store"
            link = resp.get_json()
            assert link["kind"] == "provider_media" and link["source_media_id"] == source
            assert link["url"].startswith("http") and link["url"].endswith(
                f"/public/provider-media/{link['id']}"
            )
            public = client.get(f"/public/provider-media/{link['id']}")
            assert public.status_code == 200 and public.data == data
            with app.app_context():
                row = db.session.get(MediaObject, link["id"])
                assert row is not None
                assert row.expires_at - row.created_at == PROVIDER_LINK_LIFETIME
                row.expires_at = row.created_at  # its deadline has passed
                db.session.commit()
            gone = client.get(f"/public/provider-media/{link['id']}")
            assert gone.status_code == 410 and gone.get_json()["failure_reason"] == "media_expired"

    def test_unknown_media_or_another_kind_is_404(self, client: FlaskClient, auth: dict[str, str]) -> None:
        source = self._temp(client, auth)
        link = client.post(f"/api/media/{source}/provider-link", headers=auth).get_json()["id"]
        for media_id in ("0" * 32, "x" * 40, link):  # a link is not published again
            resp = client.post(f"/api/media/{media_id}/provider-link", headers=auth)
            assert resp.status_code == 404, media_id
            assert resp.get_json()["failure_reason"] == "not_found" and "Файл" in resp.get_json()["message"]

    def test_an_expired_test_photo_is_410(
        self, app: Flask, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        source = self._temp(client, auth)
        with app.app_context():
            row = db.session.get(MediaObject, source)
            assert row is not None
            row.expires_at = row.created_at
            db.session.commit()
        resp = client.post(f"/api/media/{source}/provider-link", headers=auth)
        assert resp.status_code == 410 and resp.get_json()["failure_reason"] == "media_expired"

    def test_only_an_admin_may_publish(self, client: FlaskClient) -> None:
        resp = client.post(
            "/api/media/" + "0" * 32 + "/provider-link", headers={"Accept": "application/json"}
        )
        assert resp.status_code == 401


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
