"""The slot page edits the fallback chain and the retry policy (real Chromium over gunicorn)."""

from __future__ import annotations

import os
import time

from photochanger.extensions import db
from photochanger.infra.circuit import OPEN, CircuitState, FileCircuitStore
from photochanger.models import Slot
from tests.browser.conftest import login, wait_until
from tests.support.jobs import job_row


def _open_slot(page, slot_id: str = "slot-003") -> None:
    login(page)
    page.goto(f"/admin/slots/{slot_id}")
    page.wait_for_selector("#slot-layout[aria-busy='false']")


def _steps(page) -> list[str]:
    return [
        page.locator(f"#fb{i}-provider").input_value() for i in range(page.locator(".chain-step").count())
    ]


def test_add_reorder_remove_steps_with_their_own_forms_and_save(page, server, app, shots):
    _open_slot(page)
    page.select_option("#provider", "gemini")
    page.fill("#set-prompt", "Сделай фон пляжем")
    page.fill("#own-retry-attempts", "2")
    page.fill("#own-retry-backoff-seconds", "0.5")

    page.click("#chain-add")
    page.select_option("#fb0-provider", "gpt_image")
    # the step's form comes from its driver's schema
    assert page.locator("select#fallbacks-0-settings-model option").count() == 3
    page.fill("#fallbacks-0-settings-prompt", "Акварель")
    page.fill("#fb0-retry-attempts", "1")
    page.click("#chain-add")
    page.select_option("#fb1-provider", "local")
    page.select_option("#fb1-operation", "filter")
    page.select_option("#fallbacks-1-settings-filter", "sepia")
    page.click("#chain-add")
    page.select_option("#fb2-provider", "fal")
    assert _steps(page) == ["gpt_image", "local", "fal"]

    page.get_by_role("button", name="Переместить шаг 4 выше").click()  # fal before local
    assert _steps(page) == ["gpt_image", "fal", "local"]
    assert page.locator("#fallbacks-0-settings-prompt").input_value() == "Акварель"  # values survive a move
    page.get_by_role("button", name="Удалить шаг 3").click()  # fal goes
    assert _steps(page) == ["gpt_image", "local"]
    assert page.locator("#fallbacks-1-settings-filter").input_value() == "sepia"
    shots(page, "slot-chain-desktop")

    page.click("#save")
    page.get_by_text("Настройки слота сохранены").first.wait_for()
    with app.app_context():
        slot = db.session.get(Slot, "slot-003")
        chain = slot.chain_json
    assert chain["retry"] == {"attempts": 2, "backoff_seconds": 0.5}
    assert [s["provider"] for s in chain["fallbacks"]] == ["gpt_image", "local"]
    assert chain["fallbacks"][0]["settings"]["prompt"] == "Акварель"
    assert chain["fallbacks"][0]["retry"] == {"attempts": 1, "backoff_seconds": None}
    assert chain["fallbacks"][1]["settings"]["filter"] == "sepia"

    page.reload()
    page.wait_for_selector("#slot-layout[aria-busy='false']")
    assert _steps(page) == ["gpt_image", "local"]
    assert page.locator("#own-retry-attempts").input_value() == "2"


def test_a_step_the_server_refuses_shows_the_message_at_its_field(page, server):
    _open_slot(page)
    page.click("#chain-add")
    page.select_option("#fb0-provider", "gemini")
    page.fill("#fb0-time-share", "0.95")
    page.click("#save")
    wait_until(
        page,
        "document.querySelector('[data-field=\"fallbacks[0].time_share\"]').classList.contains('has-error')",
    )
    error = page.locator('[data-field="fallbacks[0].time_share"] .field__error').text_content()
    assert error == "Не больше 0.9"
    page.fill("#fb0-time-share", "")
    page.click("#save")  # the Gemini step needs its prompt
    wait_until(
        page,
        "document.querySelector('[data-field=\"fallbacks[0].settings.prompt\"]').classList.contains('has-error')",
    )


def test_the_journal_lists_every_attempt_and_the_fallback_step_that_answered(page, server, app):
    attempts = [
        {"step": 0, "provider": "gemini", "outcome": "network", "duration_ms": 12},
        {"step": 0, "provider": "gemini", "outcome": "network", "duration_ms": 9},
        {"step": 1, "provider": "local", "outcome": "ok", "duration_ms": 40},
    ]
    with app.app_context():
        db.session.add(job_row("slot-004", provider_id="local", attempts_json=attempts, answered_step=1))
        db.session.commit()
    login(page)
    page.goto("/admin/slots/slot-004/journal")
    page.wait_for_selector("#journal-body tr[data-job-id]")
    cell = page.locator("#journal-body tr [data-role='attempts']").first
    assert cell.text_content() == "gemini: Нет связи ×2 → local: готово"
    assert "запасной шаг 2" in page.locator("#journal-body tr").first.text_content()


def test_the_dashboard_warns_of_an_open_circuit(page, server, app):
    store = FileCircuitStore(os.path.join(app.config["LOCK_DIR"], "circuits"))
    store.update("gemini", lambda _s: CircuitState(OPEN, 3, time.time() + 60))
    login(page)
    banner = page.locator("#dash-circuits")
    banner.wait_for(state="visible")
    text = banner.text_content()
    assert "«Google Gemini (генерация изображений)» недоступен" in text
    assert "после 3 сбоев подряд" in text
