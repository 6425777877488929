"""Booth ingests through GPT Image, FAL, ComfyUI and the HTTP-service driver, over real HTTP.

One gunicorn for the module points every provider at its wire-true mock. The
environment holds a different key from the one saved in the settings, and
each mock accepts only the saved one: a 200 proves the saved key was sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from photochanger.extensions import db
from photochanger.providers.comfyui import ComfyUIDriver
from photochanger.settings.provider_keys import save_api_key
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes, open_image, png_bytes
from tests.support.live_server import LiveServer
from tests.support.mock_comfyui import MockComfyUI
from tests.support.mock_fal import MockFal
from tests.support.mock_gpt_image import MockGptImage
from tests.support.mock_http_service import MockHttpService
from tests.support.mockserver import MockServer, step
from tests.support.setup import configure_slot
from tests.support.templates import add_template

SAVED = {"gpt_image": "sk-saved", "fal": "fal-saved", "comfyui": "comfy-saved", "http_service": "svc-saved"}


@dataclass
class Providers:
    server: LiveServer
    gpt: MockGptImage
    fal: MockFal
    comfy: MockComfyUI
    svc: MockHttpService

    def mocks(self) -> list[MockServer]:
        return [self.gpt, self.fal, self.comfy, self.svc]


@pytest.fixture(scope="module")
def providers(stack) -> Iterator[Providers]:
    with (
        MockGptImage(api_key=SAVED["gpt_image"]) as gpt,
        MockFal(api_key=SAVED["fal"]) as fal,
        MockComfyUI(api_key=SAVED["comfyui"]) as comfy,
        MockHttpService(api_key=SAVED["http_service"]) as svc,
    ):
        env = {
            "GPT_IMAGE_API_BASE": gpt.url,
            "GPT_IMAGE_API_KEY": "sk-from-env",
            "FAL_API_BASE": fal.url,
            "FAL_API_KEY": "fal-from-env",
            "FAL_POLL_INTERVAL": "0.05",
            "COMFYUI_API_BASE": comfy.url,
            "COMFYUI_API_KEY": "comfy-from-env",
            "COMFYUI_POLL_INTERVAL": "0.05",
            "HTTP_SERVICE_API_KEY": "svc-from-env",
        }
        server = LiveServer({**stack.env, **env}, workers=1)
        try:
            yield Providers(server, gpt, fal, comfy, svc)
        finally:
            server.stop()


@pytest.fixture
def p(shared, providers: Providers) -> Providers:
    """A fresh deployment whose settings hold the keys; idle mocks."""
    with shared.app.app_context():
        for provider, key in SAVED.items():
            save_api_key(provider, key, "tests")
        db.session.commit()
    for mock in providers.mocks():
        mock.reset()
    return providers


@pytest.fixture
def app(shared):
    return shared.app


def slot(app, provider: str, operation: str, **settings: Any) -> None:
    configure_slot(app, provider=provider, operation=operation, settings_json=settings)


def ingest(p: Providers) -> Any:
    return post_photo(p.server.url, jpeg_bytes(320, 240))


def answered(resp, status: int, reason: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["failure_reason"] == reason


def pixel(resp) -> tuple[int, int, int]:
    assert resp.status_code == 200, resp.text
    return open_image(resp.content).convert("RGB").getpixel((1, 1))


# -- GPT Image -----------------------------------------------------------------------


def test_gpt_image_ingest_gets_the_mock_image_with_the_saved_key(app, p: Providers) -> None:
    slot(app, "gpt_image", "image_edit", prompt="Сделай фон пляжем", quality="low")
    add_template(app, "slot-001", png_bytes(), "style")
    assert pixel(ingest(p)) == (200, 120, 0)
    sent = p.gpt.edit_requests[-1]
    assert sent.headers["authorization"] == "Bearer sk-saved"
    assert [f.content_type for f in sent.files] == ["image/jpeg", "image/png"]  # photo, then template


@pytest.mark.parametrize(
    ("behaviour", "status", "reason"),
    [
        ("moderation_blocked", 502, "blocked"),
        ("insufficient_quota", 503, "quota"),
        ("billing_limit", 503, "quota"),
        ("invalid_key", 503, "not_configured"),
        ("org_not_verified", 503, "not_configured"),
    ],
)
def test_gpt_image_failures_answer_their_status_without_retry(
    app, p: Providers, behaviour, status, reason
) -> None:
    slot(app, "gpt_image", "image_edit", prompt="Сделай фон пляжем")
    p.gpt.enqueue(behaviour)
    answered(ingest(p), status, reason)
    assert len(p.gpt.edit_requests) == 1


@pytest.mark.parametrize("behaviour", ["rate_limited", "server_error", "overloaded", "bad_base64"])
def test_gpt_image_transient_failures_are_retried(app, p: Providers, behaviour) -> None:
    slot(app, "gpt_image", "image_edit", prompt="Сделай фон пляжем")
    p.gpt.enqueue(step(behaviour, retry_after="0") if behaviour == "rate_limited" else behaviour)
    assert pixel(ingest(p)) == (200, 120, 0)
    assert len(p.gpt.edit_requests) == 2


# -- FAL -------------------------------------------------------------------------------


def test_fal_ingest_passes_public_links_and_downloads_from_the_cdn(app, p: Providers) -> None:
    slot(app, "fal", "image_edit", prompt="в стиле комикса")
    add_template(app, "slot-001", png_bytes(), "style")
    p.fal.enqueue(step("success", queued=1, in_progress=2, color=(3, 4, 250)))
    assert pixel(ingest(p)) == (3, 4, 250)
    job = p.fal.jobs[-1]
    assert all("/public/provider-media/" in url for url in job.input["image_urls"])
    assert len(job.input["image_urls"]) == 2
    assert {r.headers["authorization"] for r in p.fal.requests[-4:]} == {"Key fal-saved"}
    assert "authorization" not in p.fal.cdn.requests[-1].headers


def test_fal_text_to_image(app, p: Providers) -> None:
    slot(app, "fal", "text_to_image", prompt="портрет в космосе", aspect_ratio="3:4")
    assert pixel(ingest(p)) == (120, 0, 160)
    assert p.fal.jobs[-1].model == "fal-ai/imagen4/preview"
    assert p.fal.fetches == []  # the booth's photo is stored, never published to the provider


@pytest.mark.parametrize(
    ("behaviour", "model", "status", "reason"),
    [
        ("content_policy", "fal-ai/nano-banana/edit", 502, "blocked"),
        ("nsfw", "fal-ai/flux-pro/kontext", 502, "blocked"),
        ("image_too_small", "fal-ai/nano-banana/edit", 502, "bad_response"),
        ("balance_exhausted", "fal-ai/nano-banana/edit", 503, "quota"),
    ],
)
def test_fal_failures_answer_their_status(app, p: Providers, behaviour, model, status, reason) -> None:
    slot(app, "fal", "image_edit", prompt="в стиле комикса", model=model)
    p.fal.enqueue(behaviour)
    answered(ingest(p), status, reason)


@pytest.mark.parametrize("behaviour", ["request_timeout", "runner_failure", "submit_error"])
def test_fal_transient_failures_are_retried(app, p: Providers, behaviour) -> None:
    slot(app, "fal", "image_edit", prompt="в стиле комикса")
    p.fal.enqueue(behaviour)
    assert pixel(ingest(p)) == (120, 0, 160)


# -- ComfyUI ---------------------------------------------------------------------------


def comfy_slot(app, operation: str = "identity_transfer", **settings: Any) -> None:
    slot(app, "comfyui", operation, **{**ComfyUIDriver().default_settings(operation), **settings})


def test_comfyui_face_swap_ingest_with_the_shipped_workflow(app, p: Providers) -> None:
    comfy_slot(app)
    add_template(app, "slot-001", png_bytes(90, 90), "face")
    p.comfy.enqueue(step("success", pending_polls=2, color=(250, 5, 5)))
    assert pixel(ingest(p)) == (250, 5, 5)
    run = p.comfy.runs[-1]
    assert run.prompt["1"]["inputs"]["image"].endswith("-template_1.png")
    assert run.prompt["2"]["inputs"]["image"].endswith("-photo.jpg")
    assert {r.headers.get("authorization") for r in p.comfy.requests} == {"Bearer comfy-saved"}


@pytest.mark.parametrize(
    ("behaviour", "status", "reason"),
    [
        ("execution_error", 502, "bad_response"),
        ("no_outputs", 502, "bad_response"),
        ("missing_model", 503, "not_configured"),
        ("legacy_error", 503, "not_configured"),
    ],
)
def test_comfyui_failures_answer_their_status(app, p: Providers, behaviour, status, reason) -> None:
    comfy_slot(app, "image_edit", prompt="акварель", seed=5)
    p.comfy.enqueue(behaviour)
    answered(ingest(p), status, reason)
    assert len(p.comfy.runs) <= 1, "never retried"


def test_comfyui_slot_without_the_template_its_workflow_needs_is_not_configured(app, p: Providers) -> None:
    comfy_slot(app)
    answered(ingest(p), 503, "not_configured")
    assert p.comfy.requests == []


@pytest.mark.parametrize("behaviour", ["out_of_memory", "interrupted", "server_error"])
def test_comfyui_transient_failures_are_retried(app, p: Providers, behaviour) -> None:
    comfy_slot(app, "image_edit", prompt="акварель")
    p.comfy.enqueue(behaviour)
    assert pixel(ingest(p)) == (10, 150, 150)


# -- HTTP service ------------------------------------------------------------------------


def svc_slot(app, p: Providers, **settings: Any) -> None:
    base = {"url": p.svc.endpoint, "auth_header": "X-API-Key", "auth_scheme": "plain"}
    slot(app, "http_service", "image_edit", **{**base, **settings})


def test_http_service_ingest_with_the_saved_key(app, p: Providers) -> None:
    svc_slot(app, p)
    assert pixel(ingest(p)) == (90, 90, 10)
    assert p.svc.calls[-1].headers["x-api-key"] == "svc-saved"


def test_http_service_json_url_answer(app, p: Providers) -> None:
    svc_slot(app, p, response_format="json_url", response_field="result.url")
    p.svc.enqueue(step("json_url", relative=True, color=(1, 99, 1)))
    assert pixel(ingest(p)) == (1, 99, 1)


@pytest.mark.parametrize(
    ("behaviour", "status", "reason"),
    [
        ("unprocessable", 502, "bad_response"),
        ("legal", 502, "blocked"),
        ("unauthorized", 503, "not_configured"),
    ],
)
def test_http_service_failures_answer_their_status(app, p: Providers, behaviour, status, reason) -> None:
    svc_slot(app, p)
    p.svc.enqueue(behaviour)
    answered(ingest(p), status, reason)
    assert len(p.svc.calls) == 1


def test_http_service_wrong_url_is_not_configured(app, p: Providers) -> None:
    svc_slot(app, p, url=p.svc.url + "/predict")
    answered(ingest(p), 503, "not_configured")


@pytest.mark.parametrize("behaviour", ["unavailable", "rate_limited", "not_an_image"])
def test_http_service_transient_failures_are_retried(app, p: Providers, behaviour) -> None:
    svc_slot(app, p)
    p.svc.enqueue(behaviour)
    assert pixel(ingest(p)) == (90, 90, 10)
    assert len(p.svc.calls) == 2
