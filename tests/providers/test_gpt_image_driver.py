"""The GPT Image driver against a real-HTTP mock of ``/v1/images/edits``."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from photochanger.providers.base import DriverConfig, FailureKind, ImageInput
from photochanger.providers.gpt_image import GptImageDriver
from tests.support.drivers import color, ctx, failure, image_input, jpeg, make_job
from tests.support.mock_gpt_image import MockGptImage
from tests.support.mockserver import step

KEY = "sk-test-42"
PHOTO = image_input("photo", (200, 10, 10))
TEMPLATES = (image_input("style", (10, 200, 10)), image_input("background", (10, 10, 200)))


@pytest.fixture
def openai() -> Iterator[MockGptImage]:
    with MockGptImage(api_key=KEY, hang_seconds=30) as mock:
        yield mock


@pytest.fixture
def driver(openai: MockGptImage) -> GptImageDriver:
    return GptImageDriver(DriverConfig(base_url=openai.url))


def job(api_key: str | None = KEY, templates=TEMPLATES, **settings):
    return make_job("image_edit", PHOTO, templates, api_key, **{"prompt": "Сделай фон пляжем", **settings})


def test_photo_then_templates_as_repeated_image_parts_with_the_bearer_key(
    openai: MockGptImage, driver: GptImageDriver
) -> None:
    result = driver.process(job(), ctx())
    sent = openai.edit_requests[-1]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert [f.field for f in sent.files] == ["image[]"] * 3
    assert [f.data for f in sent.files] == [PHOTO.data, *(t.data for t in TEMPLATES)]
    assert [f.content_type for f in sent.files] == ["image/jpeg"] * 3
    # "auto" choices are left to the API; response_format is never sent to GPT Image models.
    assert sent.form == {"prompt": "Сделай фон пляжем", "model": "gpt-image-1"}
    assert result.mime == "image/png" and color(result.data) == (200, 120, 0)


def test_settings_and_the_slot_output_format_reach_the_form(
    openai: MockGptImage, driver: GptImageDriver
) -> None:
    settings = {
        "model": "gpt-image-1.5",
        "size": "1024x1536",
        "quality": "high",
        "background": "opaque",
        "input_fidelity": "high",
        "output_format": "jpeg",
    }
    result = driver.process(job(**settings), ctx())
    form = openai.edit_requests[-1].form
    assert form is not None
    assert {k: form[k] for k in settings} == settings
    assert result.mime == "image/jpeg"


def test_the_environment_key_is_used_when_none_is_saved(openai: MockGptImage) -> None:
    driver = GptImageDriver(DriverConfig(base_url=openai.url, default_api_key=KEY))
    driver.process(job(api_key=None), ctx())
    assert openai.edit_requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_no_key_anywhere_is_not_configured_without_a_call(
    openai: MockGptImage, driver: GptImageDriver
) -> None:
    assert failure(driver, job(api_key=None)).kind is FailureKind.NOT_CONFIGURED
    assert openai.requests == []


@pytest.mark.parametrize(
    ("settings", "sent"),
    [
        ({"prompt": " "}, False),
        ({"background": "transparent", "output_format": "jpeg"}, False),
        ({"model": "gpt-image-1-mini", "input_fidelity": "high"}, True),  # the API refuses it: 400
    ],
    ids=["no-prompt", "transparent-jpeg", "mini-fidelity"],
)
def test_slot_settings_the_api_would_refuse(
    openai: MockGptImage, driver: GptImageDriver, settings: dict, sent: bool
) -> None:
    error = failure(driver, job(**settings))
    assert error.kind in (FailureKind.NOT_CONFIGURED, FailureKind.BAD_RESPONSE)
    assert not error.retryable
    assert bool(openai.edit_requests) is sent


@pytest.mark.parametrize(
    ("behaviour", "kind", "retryable"),
    [
        ("moderation_blocked", FailureKind.BLOCKED, False),
        ("rate_limited", FailureKind.QUOTA, True),
        ("insufficient_quota", FailureKind.QUOTA, False),
        ("billing_limit", FailureKind.QUOTA, False),
        ("org_not_verified", FailureKind.NOT_CONFIGURED, False),
        ("invalid_key", FailureKind.NOT_CONFIGURED, False),
        ("server_error", FailureKind.PROVIDER_5XX, True),
        ("overloaded", FailureKind.PROVIDER_5XX, True),
        ("not_json", FailureKind.BAD_RESPONSE, True),
        ("no_data", FailureKind.BAD_RESPONSE, True),
        ("bad_base64", FailureKind.BAD_RESPONSE, True),
        ("not_an_image", FailureKind.BAD_RESPONSE, True),
        ("disconnect", FailureKind.NETWORK, True),
    ],
)
def test_failure_shapes(
    openai: MockGptImage, driver: GptImageDriver, behaviour: str, kind: FailureKind, retryable: bool
) -> None:
    openai.enqueue(behaviour, behaviour)  # twice: a dropped connection is retried once
    error = failure(driver, job())
    assert (error.kind, error.retryable) == (kind, retryable), error.detail


def test_rate_limit_and_quota_are_told_apart(openai: MockGptImage, driver: GptImageDriver) -> None:
    openai.enqueue(step("rate_limited", retry_after="12"), "insufficient_quota")
    limited, billing = failure(driver, job()), failure(driver, job())
    assert limited.retryable and limited.retry_after == 12.0
    assert not billing.retryable and "insufficient_quota" in billing.detail


def test_a_wrong_saved_key_is_rejected_as_not_configured(
    openai: MockGptImage, driver: GptImageDriver
) -> None:
    assert failure(driver, job(api_key="sk-wrong")).kind is FailureKind.NOT_CONFIGURED


def test_slow_edit_ends_at_the_deadline(openai: MockGptImage, driver: GptImageDriver) -> None:
    openai.enqueue(step("hang", seconds=5))
    assert failure(driver, job(), seconds=0.8).kind is FailureKind.TIMEOUT


def test_a_big_photo_is_shrunk_before_the_upload(openai: MockGptImage, driver: GptImageDriver) -> None:
    big = ImageInput(jpeg((1, 2, 3), (4000, 3000)), "image/jpeg", "photo")
    driver.process(driver.prepare(make_job("image_edit", big, (), KEY, prompt="x")), ctx())
    sent = openai.edit_requests[-1].files[0]
    with Image.open(io.BytesIO(sent.data)) as im:
        assert 1024 <= max(im.size) <= 2048 and sent.content_type == "image/jpeg"
