"""A text-to-image slot on the slot page: its form, and a test run with no photo (ComfyUI FLUX workflow)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import login, wait_until
from tests.support.mock_comfyui import MockComfyUI


@pytest.fixture
def comfy() -> Iterator[MockComfyUI]:
    with MockComfyUI() as mock:
        yield mock


@pytest.fixture
def server(live_server: Any, admin_credentials: Any, comfy: MockComfyUI) -> Any:
    """gunicorn with the ComfyUI mock as the studio's server (no key needed)."""
    return live_server(COMFYUI_API_BASE=comfy.url, COMFYUI_POLL_INTERVAL="0.05")


def test_a_text_to_image_slot_is_tested_with_its_prompt_alone(page, server, comfy, shots):
    login(page)
    page.goto("/admin/slots/slot-005")
    page.wait_for_selector("#slot-layout[aria-busy='false']")
    page.select_option("#provider", "comfyui")
    page.get_by_label("Картинка по промпту (workflow ComfyUI, фото гостя не используется)").check()
    assert "EmptySD3LatentImage" in page.locator("textarea#set-workflow").input_value()
    page.fill("#set-prompt", "Ёлка на Красной площади, открытка")
    page.click("#save")
    page.get_by_text("Настройки слота сохранены").first.wait_for()

    page.locator("label.toggle", has=page.locator("#toggle-test")).click()
    assert page.locator("#test-t2i-note").is_visible()
    assert page.locator("[data-field='test_image']").is_hidden()
    assert page.locator("#run-test").is_enabled()
    page.click("#run-test")
    wait_until(page, "document.getElementById('test-result').naturalWidth > 0", timeout=30_000)
    shots(page, "slot-text-to-image")
    run = comfy.runs[-1]
    assert run.prompt["2"]["inputs"]["text"] == "Ёлка на Красной площади, открытка"
    assert comfy.uploads == {}  # nothing was uploaded: there is no photo

    # switching back to a photo operation asks for the photo again
    page.get_by_label("Изменение фото по промпту (workflow ComfyUI)").check()
    assert page.locator("[data-field='test_image']").is_visible()
    assert page.locator("#run-test").is_disabled()
