"""Public gallery and QR result page in a real headless Chromium."""

from __future__ import annotations

import pytest
import requests

from tests.browser.conftest import PHONE, login, wait_until
from tests.conftest import INGEST_PASSWORD
from tests.support.images import jpeg_bytes

pytestmark = pytest.mark.browser


def _ingest(server, color) -> str:
    resp = requests.post(
        f"{server.url}/ingest/slot-001",
        files={"fileToUpload": ("IMG.JPG", jpeg_bytes(900, 1200, color=color), "image/jpeg")},
        data={"password": INGEST_PASSWORD},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    return resp.headers["X-Job-Id"]


def test_gallery_from_the_slot_page_and_result_view(page, phone_page, server, shots):
    jobs = [_ingest(server, c) for c in ((220, 60, 60), (60, 160, 90), (50, 90, 200))]
    login(page)
    page.goto("/admin/slots/slot-001")
    page.wait_for_selector("#slot-layout[aria-busy='false']")
    gallery_url = page.locator("#gallery-url").input_value()
    assert "/public/slots/slot-001?token=" in gallery_url

    guest = phone_page
    guest.goto(gallery_url)
    shots_locator = guest.locator(".shot")
    assert shots_locator.count() == 3
    assert guest.locator("h1").inner_text() == "Слот 1"
    wait_until(
        guest,
        "Array.from(document.querySelectorAll('.shot img')).every(i => i.complete && i.naturalWidth > 0)",
    )
    assert guest.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # newest first, each with a download link
    first_link = shots_locator.first.get_by_role("link", name="Скачать")
    assert first_link.get_attribute("href") == f"/public/results/{jobs[-1]}"
    shots(guest, "gallery-phone")

    page.goto(gallery_url)
    shots(page, "gallery-desktop")

    # the QR page of one result
    guest.goto(f"/public/results/{jobs[0]}/view")
    wait_until(guest, "document.querySelector('.photo img').naturalWidth === 900")
    download = guest.get_by_role("link", name="Скачать фото")
    assert download.get_attribute("href") == f"/public/results/{jobs[0]}"
    shots(guest, "result-phone")

    # without the token, or with the old one after rotation: 404
    assert guest.goto(gallery_url.split("?")[0]).status == 404
    page.goto("/admin/slots/slot-001")
    page.wait_for_selector("#slot-layout[aria-busy='false']")
    page.click("#gallery-rotate")
    page.get_by_role("button", name="Заменить").click()
    page.locator(".toast", has_text="Новая ссылка").wait_for()
    assert page.locator("#gallery-url").input_value() != gallery_url
    response = guest.goto(gallery_url)
    assert response.status == 404
    assert "Галерея не найдена" in guest.content()
    shots(guest, "gallery-404-phone")


def test_expired_result_page_is_a_russian_410(phone_page, server, app, shots):
    import datetime as dt

    from photochanger.extensions import db
    from photochanger.models import JobHistory

    job_id = _ingest(server, (120, 120, 120))
    with app.app_context():
        job = db.session.get(JobHistory, job_id)
        job.result_expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        db.session.commit()
    response = phone_page.goto(f"/public/results/{job_id}/view")
    assert response.status == 410
    assert "Срок хранения истёк" in phone_page.content()
    shots(phone_page, "result-expired-phone")
