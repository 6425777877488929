"""Slots admin API: list, detail, validated updates per driver, test-run, clean-up, gallery token."""

from __future__ import annotations

import datetime as dt
import io
import os
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from photochanger.extensions import db
from photochanger.models import JobHistory, MediaObject, Slot
from photochanger.runtime import services
from tests.support.images import jpeg_bytes, png_bytes
from tests.support.setup import set_settings

from .conftest import ADMIN_USER

pytestmark = pytest.mark.db


def _put(client: FlaskClient, auth: dict[str, str], body: Any, slot_id: str = "slot-001"):
    return client.put(f"/api/slots/{slot_id}", headers=auth, json=body)


def _template(
    client: FlaskClient, auth: dict[str, str], slot_id: str = "slot-001", kind: str = "overlay"
) -> str:
    resp = client.post(
        "/api/template-media/register",
        headers=auth,
        data={
            "slot_id": slot_id,
            "media_kind": kind,
            "file": (io.BytesIO(png_bytes(alpha=True)), "frame.png"),
        },
    )
    assert resp.status_code == 201, resp.get_json()
    return str(resp.get_json()["id"])


def _test_run(
    client: FlaskClient, auth: dict[str, str], slot_id: str = "slot-001", data: bytes | None = None
):
    photo = data if data is not None else jpeg_bytes()
    return client.post(
        f"/api/slots/{slot_id}/test-run", headers=auth, data={"test_image": (io.BytesIO(photo), "t.jpg")}
    )


def _wait_for_preview(path: str) -> None:
    """Previews are written off the response path; wait so none lands after a clean-up."""
    deadline = time.monotonic() + 10
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"no preview at {path}"
        time.sleep(0.02)


class TestRead:
    def test_list_has_fifteen_slots_with_ingest_links(
        self, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        slots = client.get("/api/slots", headers=auth).get_json()["slots"]
        assert [s["id"] for s in slots] == [f"slot-{n:03d}" for n in range(1, 16)]
        first = slots[0]
        assert first["ingest_url"] == "http://localhost/ingest/slot-001"
        assert {
            "display_name",
            "provider",
            "operation",
            "is_active",
            "version",
            "updated_at",
            "last_job",
        } <= set(first)
        assert first["last_job"] is None

    def test_list_rows_carry_each_gallery_link(self, client: FlaskClient, auth: dict[str, str]) -> None:
        first = client.get("/api/slots", headers=auth).get_json()["slots"][0]
        token = client.get("/api/slots/slot-001", headers=auth).get_json()["gallery_token"]
        assert first["gallery_token"] == token
        assert first["gallery_url"] == f"http://localhost/public/slots/slot-001?token={token}"
        assert client.get(first["gallery_url"].removeprefix("http://localhost")).status_code == 200

    def test_list_shows_the_last_job(self, client: FlaskClient, auth: dict[str, str]) -> None:
        job_id = _test_run(client, auth).headers["X-Job-Id"]
        last = client.get("/api/slots", headers=auth).get_json()["slots"][0]["last_job"]
        assert last["job_id"] == job_id and last["status"] == "done" and last["source"] == "ui_test"

    def test_detail_carries_what_a_form_needs(self, client: FlaskClient, auth: dict[str, str]) -> None:
        body = client.get("/api/slots/slot-001", headers=auth).get_json()
        assert body["settings"]["filter"] == "vivid"
        assert body["sync_response_seconds"] == 48
        assert body["gallery_url"].endswith(f"/public/slots/slot-001?token={body['gallery_token']}")
        assert set(body["providers"]) == {
            "local",
            "gemini",
            "turbotext",
            "gpt_image",
            "fal",
            "comfyui",
            "http_service",
        }
        assert body["providers"]["comfyui"]["key_optional"] is True
        gemini = body["providers"]["gemini"]
        assert gemini["needs_api_key"] is True
        assert gemini["settings_schema"]["image_edit"]["required"] == ["prompt"]
        assert gemini["text_to_image_operations"] == ["text_to_image"]
        assert body["providers"]["local"]["text_to_image_operations"] == []
        assert set(body["providers"]["turbotext"]["operations"]) == {
            "style_transfer",
            "identity_transfer",
            "image_edit",
        }
        assert body["template_media"] == [] and body["recent_results"] == []

    def test_detail_lists_recent_results_with_links(self, client: FlaskClient, auth: dict[str, str]) -> None:
        job_id = _test_run(client, auth).headers["X-Job-Id"]
        recent = client.get("/api/slots/slot-001", headers=auth).get_json()["recent_results"]
        assert [r["job_id"] for r in recent] == [job_id]
        assert recent[0]["result_url"] == f"http://localhost/public/results/{job_id}"
        preview = client.get(recent[0]["preview_url"], headers=auth)
        assert preview.status_code == 200 and preview.mimetype.startswith("image/")

    def test_unknown_slot_is_404(self, client: FlaskClient, auth: dict[str, str]) -> None:
        resp = client.get("/api/slots/slot-099", headers=auth)
        assert resp.status_code == 404
        assert resp.get_json()["failure_reason"] == "slot_not_found"


class TestUpdate:
    def test_the_briefs_example_body_is_accepted(
        self, app: Flask, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        before = client.get("/api/slots/slot-001", headers=auth).get_json()
        body = {
            "display_name": "Slot 1 (Gemini)",
            "provider": "gemini",
            "operation": "image_edit",
            "is_active": True,
            "size_limit_mb": 20,
            "sync_response_seconds": 48,
            "settings": {"prompt": "Studio portrait"},
            "template_media": [],
        }
        resp = _put(client, auth, body)
        assert resp.status_code == 200, resp.get_json()
        after = resp.get_json()
        assert after["version"] == before["version"] + 1
        assert after["provider"] == "gemini" and after["settings"]["prompt"] == "Studio portrait"
        assert after["settings"]["model"] == "gemini-2.5-flash-image"  # defaults filled in
        assert after["updated_by"] == ADMIN_USER
        assert after["updated_at"] > before["updated_at"]
        with app.app_context():
            assert db.session.get(Slot, "slot-001").updated_by == ADMIN_USER  # type: ignore[union-attr]

    def test_an_unchanged_body_keeps_the_version(self, client: FlaskClient, auth: dict[str, str]) -> None:
        version = client.get("/api/slots/slot-001", headers=auth).get_json()["version"]
        resp = _put(client, auth, {"display_name": "Слот 1"})
        assert resp.get_json()["version"] == version

    def test_a_stale_version_is_409(self, client: FlaskClient, auth: dict[str, str]) -> None:
        version = client.get("/api/slots/slot-001", headers=auth).get_json()["version"]
        assert _put(client, auth, {"display_name": "A", "version": version}).status_code == 200
        stale = _put(client, auth, {"display_name": "B", "version": version})
        assert stale.status_code == 409
        assert stale.get_json()["failure_reason"] == "version_conflict"
        assert stale.get_json()["current_version"] == version + 1

    def test_another_global_timeout_is_a_conflict_naming_the_field(
        self, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        """Well formed, and accepted while it equals the global setting: a 409, not a 400."""
        assert _put(client, auth, {"sync_response_seconds": 48}).status_code == 200
        resp = _put(client, auth, {"sync_response_seconds": 30})
        assert resp.status_code == 409
        assert (resp.get_json()["failure_reason"], resp.get_json()["field"]) == (
            "conflict",
            "sync_response_seconds",
        )

    def test_switching_provider_keeps_known_fields(self, client: FlaskClient, auth: dict[str, str]) -> None:
        assert (
            _put(client, auth, {"provider": "gemini", "settings": {"prompt": "В стиле ван Гога"}}).status_code
            == 200
        )
        moved = _put(client, auth, {"provider": "turbotext", "operation": "image_edit"})
        assert moved.status_code == 200, moved.get_json()
        assert moved.get_json()["settings"]["prompt"] == "В стиле ван Гога"
        assert "model" not in moved.get_json()["settings"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"is_active": "yes"}, "is_active"),
            ({"display_name": ""}, "display_name"),
            ({"display_name": 7}, "display_name"),
            ({"size_limit_mb": 50}, "size_limit_mb"),
            ({"provider": "midjourney"}, "provider"),
            ({"settings": []}, "settings"),
            ({"template_media": {}}, "template_media"),
            ({"template_media": [{"media_kind": "style"}]}, "template_media[0].media_object_id"),
            (
                {"template_media": [{"media_object_id": "x", "media_kind": "hat"}]},
                "template_media[0].media_kind",
            ),
            ({"colour": "red"}, "colour"),
            ({"version": "1"}, "version"),
        ],
    )
    def test_wrong_shapes_are_400_naming_the_field(
        self, client: FlaskClient, auth: dict[str, str], body: dict[str, Any], field: str
    ) -> None:
        resp = _put(client, auth, body)
        assert resp.status_code == 400, resp.get_json()
        assert resp.get_json()["failure_reason"] == "bad_request"
        assert resp.get_json()["field"] == field
        assert field in resp.get_json()["message"]

    @pytest.mark.parametrize("body", [[], "text", 5])
    def test_a_body_that_is_not_an_object_is_400(
        self, client: FlaskClient, auth: dict[str, str], body: Any
    ) -> None:
        resp = _put(client, auth, body)
        assert resp.status_code == 400 and resp.get_json()["field"] == "body"

    def test_a_non_json_body_is_400(self, client: FlaskClient, auth: dict[str, str]) -> None:
        resp = client.put("/api/slots/slot-001", headers=auth, data="display_name=x")
        assert resp.status_code == 400 and resp.get_json()["field"] == "body"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            # local
            ({"provider": "local", "operation": "blur"}, "operation"),
            ({"provider": "local", "settings": {"filter": "neon"}}, "settings.filter"),
            ({"provider": "local", "settings": {"filter": "bw", "quality": 20}}, "settings.quality"),
            ({"provider": "local", "settings": {"filter": "bw", "prompt": "x"}}, "settings.prompt"),
            # gemini
            ({"provider": "gemini"}, "settings.prompt"),
            ({"provider": "gemini", "settings": {"prompt": ""}}, "settings.prompt"),
            ({"provider": "gemini", "settings": {"prompt": "x", "model": "dall-e"}}, "settings.model"),
            (
                {"provider": "gemini", "settings": {"prompt": "x", "aspect_ratio": "7:3"}},
                "settings.aspect_ratio",
            ),
            ({"provider": "gemini", "operation": "style_transfer", "settings": {"prompt": "x"}}, "operation"),
            # turbotext
            ({"provider": "turbotext", "operation": "image_edit"}, "settings.prompt"),
            (
                {
                    "provider": "turbotext",
                    "operation": "image_edit",
                    "settings": {"prompt": "x", "strength": 99},
                },
                "settings.strength",
            ),
            (
                {
                    "provider": "turbotext",
                    "operation": "identity_transfer",
                    "settings": {"face_restore": "yes"},
                },
                "settings.face_restore",
            ),
            ({"provider": "turbotext", "operation": "deepfake"}, "operation"),
        ],
    )
    def test_settings_are_validated_by_the_drivers_schema(
        self, client: FlaskClient, auth: dict[str, str], body: dict[str, Any], field: str
    ) -> None:
        resp = _put(client, auth, body)
        assert resp.status_code == 400, resp.get_json()
        assert resp.get_json()["field"] == field
        assert field in resp.get_json()["message"]
        assert client.get("/api/slots/slot-001", headers=auth).get_json()["provider"] == "local"  # unchanged

    def test_template_media_is_bound_in_order(self, client: FlaskClient, auth: dict[str, str]) -> None:
        first, second = _template(client, auth), _template(client, auth, kind="background")
        resp = _put(
            client,
            auth,
            {
                "template_media": [
                    {"media_object_id": second, "media_kind": "base"},
                    {"media_object_id": first},
                ]
            },
        )
        assert resp.status_code == 200, resp.get_json()
        bound = [
            (t["media_object_id"], t["media_kind"], t["position"]) for t in resp.get_json()["template_media"]
        ]
        assert bound == [(second, "base", 0), (first, "overlay", 1)]

    def test_another_slots_template_is_refused(self, client: FlaskClient, auth: dict[str, str]) -> None:
        foreign = _template(client, auth, slot_id="slot-002")
        resp = _put(client, auth, {"template_media": [{"media_object_id": foreign}]})
        assert resp.status_code == 409 and resp.get_json()["field"] == "template_media[0].media_object_id"
        assert resp.get_json()["failure_reason"] == "conflict"  # well formed: registered here, it would do

    def test_an_operation_is_400_against_the_named_provider_409_against_the_slots(
        self, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        named = _put(client, auth, {"provider": "fal", "operation": "filter"})
        assert named.status_code == 400 and named.get_json()["field"] == "operation"
        current = _put(client, auth, {"operation": "text_to_image"})  # slot-001 runs the local provider
        assert current.status_code == 409 and current.get_json()["field"] == "operation"

    def test_turbotext_takes_one_template(self, client: FlaskClient, auth: dict[str, str]) -> None:
        a, b = _template(client, auth), _template(client, auth)
        resp = _put(
            client,
            auth,
            {
                "provider": "turbotext",
                "operation": "style_transfer",
                "template_media": [{"media_object_id": a}, {"media_object_id": b}],
            },
        )
        assert resp.status_code == 400 and resp.get_json()["field"] == "template_media"

    def test_a_deactivated_slot_stops_ingest(self, client: FlaskClient, auth: dict[str, str]) -> None:
        assert _put(client, auth, {"is_active": False}).status_code == 200
        resp = client.post(
            "/ingest/slot-001",
            data={"password": "123456", "fileToUpload": (io.BytesIO(jpeg_bytes()), "a.jpg")},
        )
        assert resp.status_code == 404 and resp.get_json()["failure_reason"] == "slot_inactive"


class TestTestRun:
    def test_runs_the_pipeline_without_the_ingest_password(
        self, app: Flask, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        resp = _test_run(client, auth)
        assert resp.status_code == 200
        assert resp.mimetype == "image/jpeg" and resp.data[:2] == b"\xff\xd8"
        job_id = resp.headers["X-Job-Id"]
        assert resp.headers["X-Result-Url"].endswith(f"/public/results/{job_id}")
        with app.app_context():
            job = db.session.get(JobHistory, job_id)
            assert job is not None
            assert (job.source, job.status, job.metadata_json["requested_by"]) == (
                "ui_test",
                "done",
                ADMIN_USER,
            )

    def test_an_inactive_slot_can_be_tested(self, client: FlaskClient, auth: dict[str, str]) -> None:
        _put(client, auth, {"is_active": False})
        assert _test_run(client, auth).status_code == 200

    def test_a_registered_temp_photo_can_be_used(self, client: FlaskClient, auth: dict[str, str]) -> None:
        media = client.post(
            "/api/media/register", headers=auth, data={"file": (io.BytesIO(jpeg_bytes()), "t.jpg")}
        ).get_json()
        resp = client.post("/api/slots/slot-001/test-run", headers=auth, data={"media_id": media["id"]})
        assert resp.status_code == 200 and resp.headers["X-Job-Id"]

    def test_missing_photo_is_400(self, client: FlaskClient, auth: dict[str, str]) -> None:
        resp = client.post("/api/slots/slot-001/test-run", headers=auth, data={})
        assert resp.status_code == 400 and resp.get_json()["field"] == "test_image"

    def test_not_an_image_is_415(self, client: FlaskClient, auth: dict[str, str]) -> None:
        resp = _test_run(client, auth, data=b"%PDF-1.4 not a photo")
        assert resp.status_code == 415

    def test_provider_failure_answers_like_ingest(self, client: FlaskClient, auth: dict[str, str]) -> None:
        # Gemini without any key: the same 503 not_configured a booth would get.
        assert _put(client, auth, {"provider": "gemini", "settings": {"prompt": "x"}}).status_code == 200
        resp = _test_run(client, auth)
        assert resp.status_code == 503
        assert resp.get_json()["failure_reason"] == "not_configured" and resp.get_json()["job_id"]


class TestCleanupAndGallery:
    def test_cleanup_removes_only_expired_media(
        self, app: Flask, client: FlaskClient, auth: dict[str, str]
    ) -> None:
        set_settings(app, keep_input_hours=1)  # inputs kept past the result, for the clean-up to find
        old_job = _test_run(client, auth).headers["X-Job-Id"]
        live_job = _test_run(client, auth, data=jpeg_bytes(color=(200, 10, 10))).headers["X-Job-Id"]
        template = _template(client, auth)
        past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        with app.app_context():
            for media in db.session.query(MediaObject).filter(MediaObject.job_id == old_job):
                media.expires_at = past
            db.session.get(JobHistory, old_job).result_expires_at = past  # type: ignore[union-attr]
            db.session.commit()
            root = services().store.root
        for job_id in (old_job, live_job):
            _wait_for_preview(os.path.join(root, "results", "slot-001", job_id, "preview.webp"))
        orphan = os.path.join(root, "results", "slot-001", "f" * 32)
        os.makedirs(orphan)
        # Left by a crash a while ago: a folder written a moment ago may be a job's being created.
        left_at = time.time() - 600
        os.utime(orphan, (left_at, left_at))

        resp = client.post("/api/slots/slot-001/cleanup", headers=auth)
        assert resp.status_code == 200
        report = resp.get_json()
        assert report["media_cleaned"] == 2  # the old job's input and result
        assert report["orphan_folders_removed"] == 1 and not os.path.exists(orphan)
        assert not os.path.exists(os.path.join(root, "results", "slot-001", old_job))
        assert os.path.isdir(os.path.join(root, "results", "slot-001", live_job))
        with app.app_context():
            cleaned = {
                m.kind for m in db.session.query(MediaObject).filter(MediaObject.cleaned_at.is_not(None))
            }
            assert cleaned == {"input", "result"}
            assert db.session.get(MediaObject, template).cleaned_at is None  # type: ignore[union-attr]
        assert client.get(f"/api/template-media/{template}", headers=auth).status_code == 200

    def test_gallery_token_rotation(self, client: FlaskClient, auth: dict[str, str]) -> None:
        old = client.get("/api/slots/slot-001", headers=auth).get_json()["gallery_token"]
        resp = client.post("/api/slots/slot-001/gallery-token", headers=auth)
        assert resp.status_code == 200
        new = resp.get_json()["gallery_token"]
        assert new != old and len(new) >= 32
        assert resp.get_json()["gallery_url"].endswith(f"token={new}")
        assert client.get("/api/slots/slot-001", headers=auth).get_json()["gallery_token"] == new
        # The public gallery follows: the old link is dead, the new one opens.
        assert client.get(f"/public/slots/slot-001?token={old}").status_code == 404
        assert client.get(resp.get_json()["gallery_url"].replace("http://localhost", "")).status_code == 200
