"""The slot page's QR preview: the test photo with the code placed as the form asks, nothing stored."""

from __future__ import annotations

import io
import json

import pytest
import zxingcpp
from PIL import Image

from photochanger.extensions import db
from photochanger.media import qr
from photochanger.models import JobHistory, Slot
from tests.support.images import jpeg_bytes, noisy_jpeg

pytestmark = pytest.mark.db


def _preview(client, auth, photo: bytes, options: dict | str | None = None):
    data: dict = {"test_image": (io.BytesIO(photo), "t.jpg")}
    if options is not None:
        data["qr"] = options if isinstance(options, str) else json.dumps(options)
    return client.post("/api/slots/slot-001/qr-preview", headers=auth, data=data)


def _box(image: Image.Image) -> tuple[float, float]:
    """The decoded code's top-left point."""
    (code,) = zxingcpp.read_barcodes(image)
    return code.position.top_left.x, code.position.top_left.y


def test_the_preview_places_the_code_as_the_form_asks(app, client, auth):
    photo = noisy_jpeg(1181, 1772)
    resp = _preview(client, auth, photo, {"corner": "top_left", "size_percent": 20, "caption": "Скачай"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.mimetype == "image/jpeg"
    image = Image.open(io.BytesIO(resp.data))
    (code,) = zxingcpp.read_barcodes(image)
    assert code.text.startswith("http://localhost/public/results/") and code.text.endswith("/view")
    x, y = _box(image)
    assert x < 1181 / 4 and y < 1772 / 4
    right = Image.open(io.BytesIO(_preview(client, auth, photo, {"corner": "bottom_right"}).data))
    x, y = _box(right)
    assert x > 1181 / 2 and y > 1772 / 2
    with app.app_context():
        assert db.session.query(JobHistory).count() == 0  # a preview is no job


def test_without_form_options_the_saved_ones_are_used(app, client, auth):
    with app.app_context():
        slot = db.session.get(Slot, "slot-001")
        slot.settings_json = {**slot.settings_json, "qr": {**qr.DEFAULTS, "corner": "top_right"}}
        db.session.commit()
    image = Image.open(io.BytesIO(_preview(client, auth, noisy_jpeg(1181, 1772)).data))
    x, y = _box(image)
    assert x > 1181 / 2 and y < 1772 / 4


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ("{not json", "qr"),
        ({"corner": "middle"}, "qr.corner"),
        ({"size_percent": 60}, "qr.size_percent"),
        ({"caption": "x" * 40}, "qr.caption"),
        ({"colour": "red"}, "qr.colour"),
    ],
)
def test_bad_options_are_a_400_naming_the_field(client, auth, options, field):
    resp = _preview(client, auth, jpeg_bytes(), options)
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["failure_reason"] == "bad_request" and body["field"] == field
    assert "Поле" in body["message"]


def test_a_malformed_media_id_is_a_400_even_beside_a_photo(client, auth):
    """The contract's ``media_id`` is 1–64 characters: one outside that is refused, not ignored."""
    for media_id in ("", "0" * 65):
        data = {"test_image": (io.BytesIO(jpeg_bytes()), "t.jpg"), "media_id": media_id}
        resp = client.post("/api/slots/slot-001/qr-preview", headers=auth, data=data)
        assert resp.status_code == 400 and resp.get_json()["field"] == "media_id"


def test_the_slot_saves_its_qr_option_and_rejects_a_bad_one(client, auth):
    qr_on = {**qr.DEFAULTS, "enabled": True, "corner": "bottom_left"}
    resp = client.put("/api/slots/slot-001", headers=auth, json={"settings": {"filter": "warm", "qr": qr_on}})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["settings"]["qr"] == qr_on
    bad = client.put(
        "/api/slots/slot-001", headers=auth, json={"settings": {"filter": "warm", "qr": {"size_percent": 99}}}
    )
    assert bad.status_code == 400
    assert bad.get_json()["field"] == "settings.qr.size_percent"
