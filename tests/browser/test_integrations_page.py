"""The «Интеграции» page in real Chromium: API keys made, shown once, counted and revoked."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
import requests

from tests.browser.conftest import ADMIN_PASSWORD, ADMIN_USER, login, wait_until
from tests.support.api_keys import api_post
from tests.support.zips import make_zip, photos

pytestmark = pytest.mark.browser


def _whoami(server, key: str) -> requests.Response:
    return requests.get(f"{server.url}/api/v1/key", headers={"X-API-Key": key}, timeout=10)


def test_a_key_is_made_shown_once_counted_and_revoked(page, server, shots):
    login(page)
    page.click("a[href='/admin/integrations']")
    page.wait_for_url("**/admin/integrations")
    wait_until(page, "document.querySelector('#key-body td.muted').textContent.includes('Ключей пока нет')")
    page.fill("#key-name", "Сайт студии")
    page.fill("#key-rate", "120")
    page.uncheck("#key-all-slots")
    page.check("#key-slots input[value='slot-003']")
    page.click("#key-create")
    wait_until(page, "!document.getElementById('key-secret').hidden")
    key = page.input_value("#key-secret-key")
    assert key.startswith("pc_") and page.input_value("#key-secret-webhook").startswith("whsec_")
    row = page.locator("#key-body tr[data-state='live']")
    assert "slot-003" in row.inner_text() and "120" in row.inner_text()
    shots(page, "integrations-key-created")

    assert _whoami(server, key).json()["slot_ids"] == ["slot-003"]
    page.reload()
    wait_until(page, "document.querySelector('#key-body [data-role=requests]').textContent === '1'")
    # Shown once: after a reload the page has no way to show the key again.
    assert key not in page.content()

    page.click("#key-body [data-role='revoke']")
    page.click("dialog.confirm [data-role='ok']")
    wait_until(page, "document.querySelector('#key-body tr[data-state=revoked]') !== null")
    assert _whoami(server, key).status_code == 401


def test_a_key_without_any_slot_is_refused_before_sending(page, server):
    login(page)
    page.goto("/admin/integrations")
    page.fill("#key-name", "Без слотов")
    page.uncheck("#key-all-slots")
    page.click("#key-create")
    wait_until(page, "document.querySelector('[data-field=slot_ids] .field__error').textContent.length > 0")
    assert page.locator("#key-body tr[data-key-id]").count() == 0


def _batch(server) -> dict:
    """A key made by the admin and a finished ZIP batch of 2 photos sent with it."""
    token = requests.post(
        f"{server.url}/api/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}, timeout=10
    ).json()["access_token"]
    key = requests.post(
        f"{server.url}/api/keys",
        json={"name": "Фотосайт"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()["api_key"]
    files = {"archive": ("event.zip", make_zip(photos(2)), "application/zip")}
    batch = api_post(server.url, key, "batches", "slot-002", files).json()
    for _ in range(200):
        if requests.get(batch["status_url"], headers={"X-API-Key": key}, timeout=10).json()["finished"]:
            return batch
        time.sleep(0.1)
    raise AssertionError("the batch did not finish")


def test_batches_show_their_progress_and_download_their_results(page, server, shots):
    batch = _batch(server)
    login(page)
    page.goto("/admin/integrations")
    row = f"#batch-body tr[data-batch-id='{batch['batch_id']}']"
    wait_until(page, f'document.querySelector("{row}") !== null')
    assert page.get_attribute(row, "data-finished") == "yes"
    assert page.inner_text(f"{row} [data-role=done]") == "2"
    assert "Фотосайт" in page.inner_text(row) and "2 из 2" in page.inner_text(row)
    shots(page, "integrations-batches")
    href = page.get_attribute(f"{row} [data-role=download]", "href")
    archive = page.request.get(href)  # with the page's session cookie
    assert archive.status == 200
    with zipfile.ZipFile(io.BytesIO(archive.body())) as results:
        assert "manifest.json" in results.namelist() and len(results.namelist()) == 3


def test_an_admin_sends_photos_as_a_batch_from_the_page(page, server, shots):
    login(page)
    page.goto("/admin/integrations")
    wait_until(page, "document.querySelector('#batch-body td.muted') !== null")
    page.click("#batch-send")
    wait_until(page, "document.querySelector('[data-field=photos] .field__error').textContent.length > 0")
    page.select_option("#batch-slot", "slot-002")
    page.set_input_files(
        "#batch-archive",
        files=[{"name": "event.zip", "mimeType": "application/zip", "buffer": make_zip(photos(1))}],
    )
    pictures = [{"name": name, "mimeType": "image/jpeg", "buffer": data} for name, data in photos(2, start=1)]
    page.set_input_files("#batch-photos", files=pictures)
    page.click("#batch-send")
    row = "#batch-body tr[data-batch-id]"
    wait_until(page, f"document.querySelector('{row}') !== null")
    text = page.inner_text(row)
    assert "Администратор" in text and "slot-002" in text and "из 3" in text
    wait_until(page, "document.getElementById('batch-photos').files.length === 0")
    shots(page, "integrations-admin-batch")
