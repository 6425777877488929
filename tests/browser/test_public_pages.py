"""Public gallery and QR result page in a real headless Chromium."""

from __future__ import annotations

import io
import zipfile

import pytest
import requests

from tests.browser.conftest import PHONE, login, toast, wait_until
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
    # «Скачать все»: every photo of the slot in one archive
    archive = guest.request.get(guest.locator("#download-all").get_attribute("href"))
    assert archive.ok and archive.headers["content-type"] == "application/zip"
    assert len(zipfile.ZipFile(io.BytesIO(archive.body())).namelist()) == 3

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
    toast(page, "Новая ссылка")
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


def _landscape(server, slot_id: str) -> str:
    resp = requests.post(
        f"{server.url}/ingest/{slot_id}",
        files={"fileToUpload": ("IMG.JPG", jpeg_bytes(1200, 800, color=(30, 140, 160)), "image/jpeg")},
        data={"password": INGEST_PASSWORD},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    return resp.headers["X-Job-Id"]


def test_all_slots_gallery_shared_for_a_while_then_revoked(page, phone_page, server, shots):
    _ingest(server, (220, 60, 60))
    landscape = _landscape(server, "slot-007")
    login(page)
    page.click("a.navlink[title='Галерея']")
    page.wait_for_url("**/admin/gallery")
    page.wait_for_selector(".gallery-section[data-slot-id='slot-007'] .shot")
    assert page.locator(".gallery-section").count() == 2

    page.fill("#share-label", "Выпускной")
    page.select_option("#share-hours", "6")
    page.click("#share-create")
    toast(page, "Ссылка создана")
    item = page.locator(".share-item").first
    assert "Выпускной" in item.inner_text()
    url = item.locator("input").input_value()
    assert "/public/galleries/" in url
    shots(page, "admin-gallery-desktop")

    guest = phone_page
    guest.goto(url)
    assert guest.locator("h1").inner_text() == "Выпускной"
    tile = guest.locator(f".shot:has(a[href='/public/results/{landscape}/view']) img")
    tile.wait_for()
    wait_until(
        guest,
        "Array.from(document.querySelectorAll('.shot img')).every(i => i.complete && i.naturalWidth > 0)",
    )
    # a landscape photo in a portrait tile is shown whole, not cropped
    assert tile.evaluate("i => getComputedStyle(i).objectFit") == "contain"
    assert guest.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shots(guest, "shared-gallery-phone")

    # a guest asked: the admin hides the landscape photo from the shared gallery
    admin_tile = page.locator(f".shot[data-job-id='{landscape}']")
    admin_tile.get_by_role("button", name="Скрыть").click()
    page.get_by_role("button", name="Скрыть").last.click()
    toast(page, "Фото скрыто от гостей")
    page.locator(f".shot.is-hidden[data-job-id='{landscape}']").wait_for()
    guest.reload()
    assert guest.locator(f"a[href='/public/results/{landscape}/view']").count() == 0

    item.get_by_role("button", name="Отозвать").click()
    page.get_by_role("button", name="Отозвать").last.click()
    toast(page, "Ссылка отозвана")
    assert guest.goto(url).status == 410
    assert "Ссылка больше не действует" in guest.content()
