"""The slot page renders the new drivers' forms from their schemas and saves them."""

from __future__ import annotations

from tests.browser.conftest import login


def _open_slot(page, slot_id: str = "slot-002") -> None:
    login(page)
    page.goto(f"/admin/slots/{slot_id}")
    page.wait_for_selector("#slot-layout[aria-busy='false']")


def test_comfyui_form_shows_the_shipped_face_swap_workflow_and_no_key_warning(page, server, shots):
    _open_slot(page)
    page.select_option("#provider", "comfyui")
    page.get_by_label("Замена лица (workflow ComfyUI)").check()
    workflow = page.locator("textarea#set-workflow")
    assert workflow.count() == 1
    assert "ReActorFaceSwap" in workflow.input_value() and "{{photo}}" in workflow.input_value()
    assert page.locator("input#set-seed[type=number]").count() == 1
    assert not page.locator("#key-hint").is_visible()  # works without a key
    shots(page, "slot-comfyui-desktop")


def test_http_service_form_saves_and_reloads(page, server):
    _open_slot(page)
    page.select_option("#provider", "http_service")
    page.fill("#set-url", "http://10.0.0.5:8002/segment")
    page.select_option("#set-request_format", "json_base64")
    page.select_option("#set-response_format", "json_url")
    page.fill("#set-response_field", "result.url")
    page.fill("#set-headers", "X-Studio: north")
    assert page.locator("textarea#set-headers").count() == 1
    page.click("#save")
    page.get_by_text("Настройки слота сохранены").first.wait_for()
    page.reload()
    page.wait_for_selector("#slot-layout[aria-busy='false']")
    assert page.locator("#provider").input_value() == "http_service"
    assert page.locator("#set-url").input_value() == "http://10.0.0.5:8002/segment"
    assert page.locator("#set-request_format").input_value() == "json_base64"
    assert page.locator("#set-headers").input_value() == "X-Studio: north"


def test_gpt_image_and_fal_forms_from_their_schemas(page, server):
    _open_slot(page)
    page.select_option("#provider", "gpt_image")
    assert page.locator("select#set-model option").count() == 3
    assert page.locator("select#set-quality option").count() == 4
    assert page.locator("#key-hint").is_visible()  # no OpenAI key configured
    page.select_option("#provider", "fal")
    page.get_by_label("Картинка по промпту (фото гостя не используется)").check()
    assert page.locator("select#set-aspect_ratio option").count() == 5
    assert page.locator("textarea#set-prompt").count() == 1
