"""Admin pages in a real headless Chromium against a live gunicorn."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN_USER, DESKTOP, PHONE, login, toast, wait_until
from tests.conftest import INGEST_PASSWORD
from tests.support.images import jpeg_bytes, png_bytes
from tests.support.setup import gemini_slot

pytestmark = pytest.mark.browser


def _ingest(server, slot_id="slot-001", color=(40, 120, 200)) -> str:
    resp = requests.post(
        f"{server.url}/ingest/{slot_id}",
        files={"fileToUpload": ("IMG_0001.JPG", jpeg_bytes(color=color), "image/jpeg")},
        data={"password": INGEST_PASSWORD},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    return resp.headers["X-Job-Id"]


def test_login_required_and_failed_login_shows_russian_error(page, phone_page, shots):
    page.goto("/admin/settings")
    page.wait_for_url(re.compile(r"/admin/login\?next=/admin/settings"))
    shots(page, "login-desktop")

    page.fill("#username", "admin")
    page.fill("#password", "wrong-password")
    page.click("#login-submit")
    error = page.locator("#login-error")
    error.wait_for(state="visible")
    assert error.inner_text() == "Неверное имя пользователя или пароль"
    shots(page, "login-error-desktop")

    # empty fields are caught before any request
    page.fill("#password", "")
    page.click("#login-submit")
    assert page.locator(".field.has-error").count() == 1

    # the right password lands on the page asked for first
    page.fill("#password", "studio-pass-42")
    page.click("#login-submit")
    page.wait_for_url("**/admin/settings")

    phone_page.goto("/admin/login")
    shots(phone_page, "login-phone")


def test_dashboard_lists_fifteen_slots_with_ingest_links(page, phone_page, server, shots):
    _ingest(server)
    login(page)
    rows = page.locator(".slot-row")
    assert rows.count() == 15
    page.wait_for_selector(".slot-row:not(.is-loading) >> nth=14")
    first = rows.first
    assert first.locator(".slot-row__name").inner_text() == "Слот 1"
    assert "Локальная обработка" in first.locator(".slot-row__meta").inner_text()
    assert "Последняя обработка: только что" in first.locator(".slot-row__meta").inner_text()
    assert "Очередь свободна" in first.locator(".slot-row__meta").inner_text()
    assert first.locator(".pill").inner_text() == "Активен"
    assert first.locator("input").input_value() == f"{server.url}/ingest/slot-001"
    # the whole link is readable, none of its start hidden
    assert first.locator("input").evaluate("i => i.scrollWidth <= i.clientWidth")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    first.get_by_role("button", name="Копировать").click()
    # The label changes once the asynchronous clipboard write resolves: wait for it.
    expect(first.get_by_role("button", name="Скопировано")).to_have_count(1)
    shots(page, "dashboard-desktop")

    phone_page.context.add_cookies(page.context.cookies())
    phone_page.goto("/admin/")
    phone_page.wait_for_selector(".slot-row:not(.is-loading) >> nth=14")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shots(phone_page, "dashboard-phone")


def test_edit_slot_upload_template_and_run_test_photo(page, phone_page, server, shots, tmp_path):
    login(page)
    page.click(".slot-row[data-slot-id='slot-002'] .slot-row__name")
    page.wait_for_url("**/admin/slots/slot-002")
    page.wait_for_selector("#slot-layout[aria-busy='false']")
    assert page.locator("#ingest-url").input_value() == f"{server.url}/ingest/slot-002"

    # client-side validation: an empty name never reaches the server
    page.fill("#display_name", "")
    page.click("#save")
    assert page.locator("[data-field='display_name'] .field__error").inner_text() == "Введите название слота"

    page.fill("#display_name", "Новогодняя рамка")
    page.get_by_label("Рамка / наложение шаблона").check()
    page.select_option("#set-filter", "sepia")
    page.select_option("#set-fit", "contain")
    page.click("#save")
    toast(page, "Настройки слота сохранены")

    page.reload()
    page.wait_for_selector("#slot-layout[aria-busy='false']")
    assert page.locator("#display_name").input_value() == "Новогодняя рамка"
    assert page.get_by_label("Рамка / наложение шаблона").is_checked()
    assert page.locator("#set-filter").input_value() == "sepia"
    assert page.locator("#set-fit").input_value() == "contain"
    assert page.locator("#slot-title").inner_text() == "Новогодняя рамка"

    # template: the overlay operation needs one, so its section is open
    assert page.locator("#templates-body").is_visible()
    # a wrong file type is refused before upload
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    page.set_input_files("#template-file", str(bad))
    assert "JPEG, PNG или WEBP" in page.locator("[data-field='template_media'] .field__error").inner_text()

    frame = tmp_path / "frame.png"
    frame.write_bytes(png_bytes(800, 600, alpha=True))
    page.set_input_files("#template-file", str(frame))
    toast(page, "Шаблон загружен и сохранён")
    thumb = page.locator("#template-thumbs .thumb[data-media-id] img")
    thumb.wait_for()
    wait_until(page, "document.querySelector('#template-thumbs .thumb[data-media-id] img').naturalWidth > 0")

    # «Ссылка»: the template at a provider-media URL, as a URL-fetching provider would fetch it
    page.locator("#template-thumbs .thumb__link").first.click()
    shown = toast(page, "/public/provider-media/")
    found = re.search(r"https?://\S+/public/provider-media/[0-9a-f]{32}", shown.inner_text())
    assert found, shown.inner_text()
    url = found.group(0)
    fetched = page.request.get(url)
    assert fetched.status == 200 and fetched.body() == frame.read_bytes()

    # test photo: original and processed result side by side
    page.locator("label.toggle", has=page.locator("#toggle-test")).click()
    photo = tmp_path / "guest.jpg"
    photo.write_bytes(jpeg_bytes(1024, 768))
    page.set_input_files("#test-file", str(photo))
    page.click("#run-test")
    wait_until(
        page,
        "(() => { const s = document.getElementById('result-status');"
        " return s.hidden || s.classList.contains('is-error') || document.querySelector('dialog'); })()",
        timeout=30_000,
    )
    assert page.locator("dialog").count() == 0, page.locator("dialog").inner_text()
    status = page.locator("#result-status")
    assert status.is_hidden(), status.inner_text()
    result = page.locator("#test-result")
    result.wait_for(state="visible")
    wait_until(page, "document.getElementById('test-result').naturalWidth === 1024")
    assert page.locator("#test-original").is_visible()
    assert page.locator("#test-result-link").get_attribute("href").startswith("/public/results/")
    toast(page, "Тест выполнен")
    shots(page, "slot-desktop")

    # the slot still saves after the template bumped its version
    page.fill("#set-quality", "120")
    page.click("#save")
    assert "Не больше 100" in page.locator("[data-field='settings.quality'] .field__error").inner_text()
    page.fill("#set-quality", "85")
    page.click("#save")
    toast(page, "Настройки слота сохранены")

    phone_page.context.add_cookies(page.context.cookies())
    phone_page.goto("/admin/slots/slot-002")
    phone_page.wait_for_selector("#slot-layout[aria-busy='false']")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shots(phone_page, "slot-phone")


def test_server_field_error_is_shown_next_to_the_field(page, tmp_path, shots):
    """Turbotext takes one template: a slot with two cannot switch to it (server-side rule)."""
    login(page)
    page.goto("/admin/slots/slot-003")
    page.wait_for_selector("#slot-layout[aria-busy='false']")
    page.get_by_label("Рамка / наложение шаблона").check()
    page.click("#save")
    toast(page, "Настройки слота сохранены")
    for n in range(2):
        f = tmp_path / f"t{n}.png"
        f.write_bytes(png_bytes(300, 200, alpha=True))
        page.set_input_files("#template-file", str(f))
        page.locator("#template-thumbs .thumb[data-media-id]").nth(n).wait_for()
    page.select_option("#provider", "turbotext")
    page.get_by_label("Изменение фото по промпту").check()
    page.fill("#set-prompt", "сделай фото в стиле акварели")
    page.click("#save")
    error = page.locator("[data-field='template_media'] .field__error")
    error.wait_for(state="visible")
    assert "не больше 1" in error.inner_text()
    # the schema-driven form: textarea, numbers, select, the key hint
    assert page.locator("textarea#set-prompt").count() == 1
    assert page.locator("input#set-strength[type=number][min='0'][max='80']").count() == 1
    assert page.locator("select#set-original_language option").count() == 2
    assert page.locator("#key-hint").is_visible()
    shots(page, "slot-server-error-desktop")

    # removing a template asks first, then the same save goes through
    page.locator("#template-thumbs .thumb__remove").first.click()
    page.get_by_role("button", name="Убрать").last.click()
    toast(page, "Шаблон убран")
    page.click("#save")
    toast(page, "Настройки слота сохранены")
    page.reload()
    page.wait_for_selector("#slot-layout[aria-busy='false']")
    assert page.locator("#provider").input_value() == "turbotext"
    assert page.locator("#set-prompt").input_value() == "сделай фото в стиле акварели"


def test_with_reduced_motion_a_field_error_is_brought_into_view_at_once(page):
    """The system's reduced-motion setting (every test page has it) turns the smooth scroll off."""
    login(page)
    page.goto("/admin/slots/slot-002")
    page.wait_for_selector("#slot-layout[aria-busy='false']")
    name_top = "document.querySelector(\"[data-field='display_name']\").getBoundingClientRect().top"
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.evaluate(
        "(() => { const i = document.getElementById('display_name'); i.value = '';"
        " i.dispatchEvent(new Event('input', {bubbles: true})); })()"
    )
    assert page.evaluate(name_top) < 0  # the name field is above the view
    page.click("#save")  # the save bar stays in view
    assert 0 <= page.evaluate(name_top) <= DESKTOP["height"]
    assert page.locator("[data-field='display_name'] .field__error").inner_text() == "Введите название слота"


def test_settings_change_deadline_password_and_keys(page, phone_page, server, shots):
    login(page)
    page.goto("/admin/settings")
    page.wait_for_selector("#password-state:not(:text('…'))")
    assert page.locator("#password-state").inner_text() == "Задан"
    assert page.locator("#sync_response_seconds").input_value() == "48"
    assert "Таймаут в DSLR Remote Pro должен быть больше" in page.content()

    page.fill("#sync_response_seconds", "30")
    assert page.locator("#sync-value").inner_text() == "30 с"
    page.click("#deadline-save")
    toast(page, "Таймаут сохранён: 30 с")

    # retention, limits and hash mode: every knob of GET /api/settings is on the page
    assert page.locator("#result_ttl_hours").input_value() == "72"
    page.fill("#upload_limit_mb", "25")
    page.click("#limits-save")
    assert "от 1 до 20" in page.locator("[data-field='upload_limit_mb'] .field__error").inner_text()
    page.fill("#upload_limit_mb", "12")
    page.fill("#result_ttl_hours", "48")
    page.fill("#concurrency_per_slot", "3")
    page.fill("#concurrency_per_provider", "40")
    page.fill("#circuit_failure_threshold", "5")
    page.fill("#circuit_cooldown_seconds", "45")
    page.select_option("#ingest_hash_mode", "strict")
    page.click("#limits-save")
    page.get_by_role("button", name="Сократить").click()
    page.get_by_role("button", name="Включить").click()
    toast(page, "Ограничения сохранены")
    saved = page.request.get(f"{server.url}/api/settings").json()
    assert (saved["upload_limit_mb"], saved["result_ttl_hours"]) == (12, 48)
    assert (saved["concurrency_per_slot"], saved["concurrency_per_provider"]) == (3, 40)
    assert (saved["circuit_failure_threshold"], saved["circuit_cooldown_seconds"]) == (5, 45)
    assert saved["ingest_hash_mode"] == "strict"

    # provider key: stored, reported as configured, never shown back
    row = page.locator("[data-provider='gemini']")
    row.locator("input").fill("AIza-test-key-123")
    row.get_by_role("button", name="Сохранить").click()
    toast(page, "Ключ сохранён")
    assert "Настроен" in row.locator("[data-role='state']").inner_text()
    assert "AIza-test-key-123" not in page.content()

    page.click("#media-cleanup")
    page.get_by_role("button", name="Очистить").last.click()
    toast(page, "Очистка завершена: удалено файлов — 0")
    hint = "Удаляются только устаревшие результаты; последний обработанный файл останется доступным"
    assert hint in page.content()

    page.reload()
    page.wait_for_selector("#password-state:not(:text('…'))")
    assert page.locator("#sync_response_seconds").input_value() == "30"
    assert page.locator("#sync-value").inner_text() == "30 с"
    shots(page, "settings-desktop")

    # the new deadline reaches the slot API (and so the ingest pipeline)
    api = page.request.get(f"{server.url}/api/settings")
    assert api.json()["sync_response_seconds"] == 30

    phone_page.context.add_cookies(page.context.cookies())
    phone_page.goto("/admin/settings")
    phone_page.wait_for_selector("#password-state:not(:text('…'))")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shots(phone_page, "settings-phone")


def test_stats_page_shows_overview_and_refreshes(page, phone_page, server, shots):
    first = _ingest(server, "slot-001")
    _ingest(server, "slot-004", color=(200, 100, 40))
    login(page)
    page.click("a.navlink[title='Статистика']")
    page.wait_for_url("**/admin/stats")
    page.wait_for_selector("#stats-body tr[data-slot-id]")
    assert page.locator("#stats-body tr[data-slot-id]").count() == 15
    assert page.locator("#global-count").inner_text() == "2"
    row = page.locator("#stats-body tr[data-slot-id='slot-004']")
    assert row.locator("td").nth(2).inner_text() == "1"
    assert "только что" in row.locator("td").nth(5).inner_text()
    shots(page, "stats-desktop")

    # the provider table: both ingests by the offline local provider, all successful
    provider = page.locator("#providers-body tr[data-provider='local']")
    assert provider.locator("td").nth(1).inner_text() == "2"
    assert provider.locator("td").nth(2).inner_text() == "100 %"

    _ingest(server, "slot-004", color=(10, 100, 240))
    # auto-refresh every 15 s; switching the window reloads at once
    page.select_option("#window", "1440")
    wait_until(page, "document.getElementById('global-count').textContent === '3'")

    # one slot's figures
    page.select_option("#slot-filter", "slot-004")
    wait_until(page, "document.querySelectorAll('#stats-body tr[data-slot-id]').length === 1")
    assert page.locator("#global-count").inner_text() == "2"
    page.select_option("#slot-filter", "")

    # the reset starts the counters again but keeps the history
    page.click("#stats-reset")
    page.get_by_role("button", name="Сбросить").last.click()
    toast(page, "Статистика сброшена")
    wait_until(page, "document.getElementById('global-count').textContent === '0'")
    assert "Счёт ведётся с" in page.locator("#counting-since").inner_text()
    assert f"сбросил {ADMIN_USER}" in page.locator("#counting-since").inner_text()
    assert page.request.get(f"{server.url}/api/jobs/{first}").json()["status"] == "done"

    phone_page.context.add_cookies(page.context.cookies())
    phone_page.goto("/admin/stats")
    phone_page.wait_for_selector("#stats-body tr[data-slot-id]")
    shots(phone_page, "stats-phone")


def test_logout_drops_the_session(page):
    login(page)
    page.click("#logout")
    # The dashboard's own requests may still be in flight: answered 401 once the session
    # is gone, they send the admin to the same login page with ?next=/admin/ first.
    page.wait_for_url(re.compile(r"/admin/login(\?next=[^&]*)?$"))
    page.goto("/admin/")
    page.wait_for_url(re.compile(r"/admin/login"))


def test_journal_shows_a_failed_ingest_with_its_reason(app, page, phone_page, server, shots):
    _ingest(server, "slot-003")
    login(page)
    page.locator(".slot-row[data-slot-id='slot-003'] [data-role='journal']").click()
    page.wait_for_url("**/admin/slots/slot-003/journal")
    page.wait_for_selector("#journal-body tr[data-job-id]")
    assert page.locator("#journal-body tr[data-status='done']").count() == 1

    # a booth's photo fails while the page is open: the journal shows it at its next refresh
    gemini_slot(app, "slot-003")
    failed = requests.post(
        f"{server.url}/ingest/slot-003",
        files={"fileToUpload": ("IMG_0002.JPG", jpeg_bytes(), "image/jpeg")},
        data={"password": INGEST_PASSWORD},
        timeout=30,
    )
    assert failed.status_code == 503
    row = page.locator("#journal-body tr[data-status='failed']")
    row.wait_for(timeout=15_000)
    assert row.locator("td").nth(3).inner_text() == "Не настроен"
    provider = row.locator("td").nth(4)
    assert provider.inner_text().splitlines()[0] == "gemini"
    assert provider.locator("[data-role='attempts']").inner_text() == "gemini: Не настроен"
    assert page.locator("#journal-body tr").first.get_attribute("data-status") == "failed"  # newest first
    shots(page, "journal-desktop")

    page.select_option("#status-filter", "done")
    wait_until(page, "document.querySelectorAll('#journal-body tr[data-status=failed]').length === 0")
    assert page.locator("#journal-body tr[data-status='done']").count() == 1

    phone_page.context.add_cookies(page.context.cookies())
    phone_page.goto("/admin/slots/slot-003/journal")
    phone_page.wait_for_selector("#journal-body tr[data-job-id]")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shots(phone_page, "journal-phone")


def test_a_slots_statistics_reset_from_the_dashboard(page, server):
    _ingest(server, "slot-005")
    login(page)
    row = page.locator(".slot-row[data-slot-id='slot-005']")
    page.wait_for_selector(".slot-row:not(.is-loading) >> nth=14")
    row.locator("[data-role='reset-stats']").click()
    page.get_by_role("button", name="Сбросить").last.click()
    toast(page, "Статистика слота slot-005 сброшена")
    api = page.request.get(f"{server.url}/api/stats/overview").json()
    slot = next(s for s in api["slots"] if s["slot_id"] == "slot-005")
    assert slot["jobs_last_window"] == 0 and slot["counting_since"]
