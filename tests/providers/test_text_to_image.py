"""Text-to-image: the drivers that make a picture from the prompt alone, against their real-HTTP mocks."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import requests
from PIL import Image

from photochanger.providers.base import TEXT_TO_IMAGE, DriverConfig, FailureKind, ProviderDriver
from photochanger.providers.comfyui import ComfyUIDriver, shipped_workflow
from photochanger.providers.fal import FalDriver
from photochanger.providers.gemini import GeminiDriver
from photochanger.providers.registry import DRIVER_CLASSES
from tests.support.drivers import ctx, failure, image_input, make_job
from tests.support.mock_comfyui import MockComfyUI
from tests.support.mock_fal import MockFal
from tests.support.mock_gemini import MockGemini, inline_images, part_kinds

KEY = "t2i-key"
PROMPT = "космонавт на Красной площади, открытка"


def test_the_capability_is_declared_per_driver_and_operation() -> None:
    makers = {name for name, cls in DRIVER_CLASSES.items() if cls.supports_text_to_image()}
    assert makers == {"gemini", "fal", "comfyui"}
    for name, cls in DRIVER_CLASSES.items():
        driver: ProviderDriver = cls()
        for operation in driver.operations:
            t2i = driver.supports_text_to_image(operation)
            assert t2i == (operation == TEXT_TO_IMAGE), (name, operation)
            assert driver.uses_photo(operation) is not t2i
            assert "prompt" in driver.settings_schema(operation)["properties"] or not t2i


# -- Gemini: a text-only generateContent with image output ---------------------------------


@pytest.fixture
def gemini() -> Iterator[MockGemini]:
    with MockGemini(api_key=KEY) as mock:
        yield mock


def test_gemini_sends_only_the_prompt_and_gets_the_asked_aspect(gemini: MockGemini) -> None:
    driver = GeminiDriver(DriverConfig(base_url=gemini.url))
    job = make_job(TEXT_TO_IMAGE, None, (), KEY, prompt=PROMPT, aspect_ratio="2:3")
    result = driver.process(job, ctx())
    (request,) = gemini.generate_requests
    assert part_kinds(request) == ["text"]
    assert request.json["contents"][0]["parts"][0]["text"] == PROMPT
    assert request.json["generationConfig"] == {
        "responseModalities": ["IMAGE"],
        "imageConfig": {"aspectRatio": "2:3"},
    }
    width, height = Image.open(io.BytesIO(result.data)).size
    assert width * 3 == height * 2


def test_gemini_text_to_image_ignores_a_photo_and_sends_templates_as_references(gemini: MockGemini) -> None:
    driver = GeminiDriver(DriverConfig(base_url=gemini.url))
    photo, style = image_input("photo", (200, 0, 0)), image_input("style", (0, 0, 200))
    driver.process(make_job(TEXT_TO_IMAGE, photo, (style,), KEY, prompt=PROMPT), ctx())
    images = inline_images(gemini.generate_requests[-1])
    assert len(images) == 1  # the style template, never the guest photo
    assert Image.open(io.BytesIO(images[0][1])).convert("RGB").getpixel((5, 5))[2] > 150


def test_an_edit_without_a_photo_is_a_configuration_error(gemini: MockGemini) -> None:
    driver = GeminiDriver(DriverConfig(base_url=gemini.url))
    error = failure(driver, make_job("image_edit", None, (), KEY, prompt=PROMPT))
    assert error.kind is FailureKind.NOT_CONFIGURED and "photo" in error.detail
    assert gemini.generate_requests == []


def test_gemini_text_to_image_settings_default_to_a_print_shape() -> None:
    defaults = GeminiDriver().default_settings(TEXT_TO_IMAGE)
    assert defaults["aspect_ratio"] == "2:3" and defaults["model"] == "gemini-2.5-flash-image"


# -- FAL Imagen 4 ------------------------------------------------------------------------------


def test_fal_imagen4_without_a_photo_sends_the_prompt_and_ratio() -> None:
    with MockFal(api_key=KEY) as fal:
        driver = FalDriver(DriverConfig(base_url=fal.url, poll_interval=0.05))
        job = make_job(TEXT_TO_IMAGE, None, (), KEY, prompt=PROMPT, aspect_ratio="3:4", seed=5)
        assert driver.process(job, ctx()).mime == "image/png"
        assert fal.jobs[-1].model == "fal-ai/imagen4/preview"
        assert fal.jobs[-1].input == {"prompt": PROMPT, "num_images": 1, "aspect_ratio": "3:4", "seed": 5}
        assert fal.fetches == []


def test_fal_edit_without_a_photo_is_a_configuration_error() -> None:
    with MockFal(api_key=KEY) as fal:
        driver = FalDriver(DriverConfig(base_url=fal.url, poll_interval=0.05))
        error = failure(driver, make_job("image_edit", None, (), KEY, prompt=PROMPT))
        assert error.kind is FailureKind.NOT_CONFIGURED
        assert fal.jobs == []


# -- ComfyUI FLUX workflow ---------------------------------------------------------------------


@pytest.fixture
def comfy() -> Iterator[MockComfyUI]:
    with MockComfyUI() as mock:
        yield mock


def test_the_shipped_flux_workflow_has_prompt_and_seed_placeholders_and_no_image() -> None:
    text = shipped_workflow("flux_text_to_image.json")
    workflow = json.loads(text)
    assert "{{prompt}}" in text and '"{{seed}}"' in text
    assert "{{photo}}" not in text and "{{template" not in text
    assert not any(node["class_type"] == "LoadImage" for node in workflow.values())
    assert ComfyUIDriver().default_settings(TEXT_TO_IMAGE)["workflow"] == text


def test_comfyui_runs_the_flux_workflow_without_uploading_anything(comfy: MockComfyUI) -> None:
    driver = ComfyUIDriver(DriverConfig(base_url=comfy.url, poll_interval=0.05))
    job = make_job(
        TEXT_TO_IMAGE,
        None,
        (),
        None,
        workflow=shipped_workflow("flux_text_to_image.json"),
        prompt=PROMPT,
        seed=77,
    )
    assert driver.process(job, ctx()).mime == "image/png"
    assert comfy.uploads == {}
    nodes = comfy.runs[-1].prompt
    assert nodes["2"]["inputs"]["text"] == PROMPT
    assert nodes["6"]["inputs"]["seed"] == 77


def test_a_workflow_that_needs_a_photo_fails_clearly_without_one(comfy: MockComfyUI) -> None:
    driver = ComfyUIDriver(DriverConfig(base_url=comfy.url, poll_interval=0.05))
    job = make_job(TEXT_TO_IMAGE, None, (), None, workflow=shipped_workflow("img2img.json"), prompt=PROMPT)
    error = failure(driver, job)
    assert error.kind is FailureKind.NOT_CONFIGURED and "photo" in error.detail
    assert comfy.runs == []


def test_fal_mock_refuses_a_ratio_imagen4_lacks() -> None:
    """Guards the guard: the driver only sends ratios of the model, so the mock must refuse others."""
    with MockFal(api_key=KEY) as fal:
        driver = FalDriver(DriverConfig(base_url=fal.url, poll_interval=0.05))
        job = make_job(TEXT_TO_IMAGE, None, (), KEY, prompt=PROMPT, aspect_ratio="2:3")
        driver.process(job, ctx())
        assert "aspect_ratio" not in fal.jobs[-1].input  # not Imagen's: left to the model's default
        reply = requests.post(
            f"{fal.url}/fal-ai/imagen4/preview",
            json={"prompt": PROMPT, "aspect_ratio": "2:3"},
            headers={"Authorization": f"Key {KEY}"},
            timeout=5,
        )
        assert reply.status_code == 422 and reply.json()["detail"][0]["type"] == "literal_error"
