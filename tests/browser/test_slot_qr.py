"""The slot page's QR card: switch it on, preview the placement on the test photo, save, print."""

from __future__ import annotations

import base64
import io

import zxingcpp
from PIL import Image

from photochanger.extensions import db
from photochanger.models import Slot
from tests.browser.conftest import login, wait_until
from tests.support.images import noisy_jpeg


def _image_of(page, selector: str) -> Image.Image:
    """The pixels an <img> shows, read through a canvas (the CSP keeps fetch off blob: URLs)."""
    data_url = page.evaluate(
        """(sel) => {
             const img = document.querySelector(sel);
             const canvas = document.createElement("canvas");
             canvas.width = img.naturalWidth;
             canvas.height = img.naturalHeight;
             canvas.getContext("2d").drawImage(img, 0, 0);
             return canvas.toDataURL("image/png");
           }""",
        selector,
    )
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))


def test_the_qr_option_previews_on_the_test_photo_saves_and_prints(page, server, app, tmp_path, shots):
    login(page)
    page.goto("/admin/slots/slot-003")
    page.wait_for_selector("#slot-layout[aria-busy='false']")
    assert page.locator("#qr-body").is_hidden()  # off by default
    page.locator("label.toggle", has=page.locator("#qr-enabled")).click()
    assert page.locator("#qr-caption").input_value() == "Скачай фото"
    page.select_option("#qr-corner", "top_left")
    page.fill("#qr-size", "20")

    # the preview asks for the test photo first
    page.click("#qr-preview-run")
    assert "тестовое фото" in page.locator("#qr-preview-note").inner_text()
    photo = tmp_path / "guest.jpg"
    photo.write_bytes(noisy_jpeg(1181, 1772))
    page.set_input_files("#test-file", str(photo))
    page.click("#qr-preview-run")
    wait_until(page, "document.getElementById('qr-preview').naturalWidth > 0")
    preview = _image_of(page, "#qr-preview")
    (code,) = zxingcpp.read_barcodes(preview)
    assert code.position.top_left.x < 1181 / 4 and code.position.top_left.y < 1772 / 4
    shots(page, "slot-qr-preview")

    # a bad size is caught next to its field
    page.fill("#qr-size", "90")
    page.click("#save")
    wait_until(
        page,
        "document.querySelector(\"[data-field='settings.qr.size_percent']\").classList.contains('has-error')",
    )
    page.fill("#qr-size", "20")
    page.click("#save")
    page.get_by_text("Настройки слота сохранены").first.wait_for()
    with app.app_context():
        saved = db.session.get(Slot, "slot-003").settings_json["qr"]
    assert saved == {
        "enabled": True,
        "corner": "top_left",
        "size_percent": 20,
        "margin_percent": 2,
        "caption": "Скачай фото",
    }

    # the test run's result carries the code, linking to its own phone page
    page.click("#run-test")
    wait_until(page, "!document.getElementById('test-result').hidden", timeout=30_000)
    result = _image_of(page, "#test-result")
    (printed,) = zxingcpp.read_barcodes(result)
    job_link = page.locator("#test-result-link").get_attribute("href")
    assert printed.text == server.url + job_link

    page.reload()
    page.wait_for_selector("#slot-layout[aria-busy='false']")
    assert page.locator("#qr-enabled").is_checked()
    assert page.locator("#qr-corner").input_value() == "top_left"
