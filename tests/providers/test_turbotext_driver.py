"""The Turbotext driver against a real-HTTP mock of the queue API.

The mock fetches the input links it receives, as Turbotext does, so these
tests also prove the URL roles reach the provider as working image links.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from photochanger.providers.base import (
    CallContext,
    DriverConfig,
    FailureKind,
    ImageInput,
    ProviderError,
    ProviderJob,
    ProviderResult,
)
from photochanger.providers.turbotext import TurbotextDriver
from tests.support.drivers import color, ctx, failure, jpeg
from tests.support.drivers import make_job as provider_job
from tests.support.mock_turbotext import MockTurbotext
from tests.support.mockserver import FileHost, step

KEY = "tt-key-42"


@pytest.fixture
def turbotext() -> Iterator[MockTurbotext]:
    with MockTurbotext(api_key=KEY, fetch_timeout=2.0, hang_seconds=30) as mock:
        yield mock


@pytest.fixture
def driver(turbotext: MockTurbotext) -> TurbotextDriver:
    return TurbotextDriver(DriverConfig(base_url=turbotext.url, poll_interval=0.05))


def make_job(
    operation: str,
    photo: ImageInput,
    templates: tuple[ImageInput, ...] = (),
    api_key: str | None = KEY,
    **settings: Any,
) -> ProviderJob:
    return provider_job(operation, photo, templates, api_key, **settings)


def run(driver: TurbotextDriver, job: ProviderJob, seconds: float = 10.0) -> ProviderResult:
    return driver.process(job, ctx(seconds))


# -- operations: method and URL roles ------------------------------------------------


def test_style_transfer_mixes_the_guest_photo_with_the_template_style(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput, template: ImageInput
) -> None:
    result = run(driver, make_job("style_transfer", photo, (template,), prompt="акварель"))
    job = turbotext.jobs[-1]
    assert job.method == "mix_images"
    assert job.form["url_image_target"] == photo.url  # the photo to process
    assert job.form["url"] == template.url  # the style source
    assert job.form["content"] == "акварель"
    assert {f.url: f.ok for f in turbotext.fetches} == {photo.url: True, template.url: True}
    assert result.mime == "image/png" and color(result.data) == (40, 90, 200)


def test_style_transfer_without_prompt_sends_no_content(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput, template: ImageInput
) -> None:
    run(driver, make_job("style_transfer", photo, (template,)))
    assert "content" not in turbotext.jobs[-1].form


def test_identity_transfer_puts_the_guest_face_onto_the_template(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput, template: ImageInput
) -> None:
    run(driver, make_job("identity_transfer", photo, (template,), face_restore=False))
    job = turbotext.jobs[-1]
    assert job.method == "deepfake_photo"
    assert job.form["url"] == template.url  # the face here is replaced
    assert job.form["url_image_target"] == photo.url  # by the guest's face
    assert job.form["face_restore"] == "False"


def test_image_edit_sends_the_photo_prompt_and_tuning(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput
) -> None:
    job = make_job("image_edit", photo, prompt="сделай зиму", strength=55, seed=7, negative_prompt="blur")
    run(driver, job)
    queued = turbotext.jobs[-1]
    assert queued.method == "generate_image2image"
    assert queued.form == {
        "do": "create_queue",
        "url": photo.url,
        "content": "сделай зиму",
        "strength": "55",
        "scale": "7.5",
        "seed": "7",
        "negative_prompt": "blur",
        "original_language": "ru",
    }


def test_create_and_poll_carry_the_bearer_key_and_queue_id(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput, template: ImageInput
) -> None:
    turbotext.enqueue(step("success", reconnects=1))
    run(driver, make_job("style_transfer", photo, (template,)))
    api_calls = [r for r in turbotext.requests if r.path.startswith("/api_ai/")]
    assert [r.form["do"] for r in api_calls if r.form] == ["create_queue", "get_result", "get_result"]
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in api_calls)
    assert all(r.path == "/api_ai/mix_images" for r in api_calls)
    assert api_calls[1].form == {"do": "get_result", "queueid": str(turbotext.jobs[-1].queueid)}


# -- polling ------------------------------------------------------------------------


@pytest.mark.parametrize("success_false", [False, True], ids=["plain", "with-success-false"])
def test_reconnect_three_times_then_success(
    turbotext: MockTurbotext,
    driver: TurbotextDriver,
    photo: ImageInput,
    template: ImageInput,
    success_false: bool,
) -> None:
    turbotext.enqueue(step("success", reconnects=3, reconnect_success_false=success_false))
    result = run(driver, make_job("style_transfer", photo, (template,)))
    assert turbotext.jobs[-1].polls == 4
    assert result.mime == "image/png"


def test_polling_sleeps_through_the_context_and_never_past_the_deadline(
    turbotext: MockTurbotext, photo: ImageInput, template: ImageInput
) -> None:
    slept: list[float] = []
    driver = TurbotextDriver(DriverConfig(base_url=turbotext.url, poll_interval=0.4))
    turbotext.enqueue(step("success", reconnects=1000))
    call = CallContext(
        deadline=time.monotonic() + 1.0,
        session=requests.Session(),
        sleep=lambda s: (slept.append(s), time.sleep(s)),
    )
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        driver.process(make_job("style_transfer", photo, (template,)), call)
    assert info.value.kind is FailureKind.TIMEOUT
    assert time.monotonic() - started < 1.0 + 0.5
    assert slept and max(slept) <= 0.4
    assert sum(slept) <= 1.0


def test_a_transient_poll_error_does_not_lose_the_paid_job(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput, template: ImageInput
) -> None:
    turbotext.enqueue(step("success", poll_errors=1, reconnects=1))
    assert run(driver, make_job("style_transfer", photo, (template,))).mime == "image/png"
    assert len(turbotext.jobs) == 1


def test_hanging_poll_fails_within_the_deadline(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput, template: ImageInput
) -> None:
    turbotext.enqueue("hang")
    started = time.monotonic()
    error = failure(driver, make_job("style_transfer", photo, (template,)), seconds=1.5)
    assert time.monotonic() - started < 1.5 + 1.0
    assert error.kind is FailureKind.TIMEOUT


# -- result location ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "downloaded"),
    [
        ("top", "/download.php"),
        ("data", "/download.php"),
        ("image", "/generated/result-1001.png"),
        ("image_relative", "/generated/result-1001.png"),
    ],
)
def test_result_url_is_found_top_level_first_then_fallbacks(
    turbotext: MockTurbotext,
    driver: TurbotextDriver,
    photo: ImageInput,
    template: ImageInput,
    where: str,
    downloaded: str,
) -> None:
    turbotext.enqueue(step("success", result=where, color=(9, 99, 199)))
    result = run(driver, make_job("identity_transfer", photo, (template,)))
    assert turbotext.downloads == [downloaded]
    assert color(result.data) == (9, 99, 199)


def test_final_answer_without_any_link_is_a_bad_response(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput, template: ImageInput
) -> None:
    turbotext.enqueue(step("success", result="none"))
    error = failure(driver, make_job("style_transfer", photo, (template,)))
    assert error.kind is FailureKind.BAD_RESPONSE


def test_result_that_is_not_an_image_is_a_retryable_bad_response(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput, template: ImageInput
) -> None:
    turbotext.enqueue(step("success", broken_download=True))
    error = failure(driver, make_job("style_transfer", photo, (template,)))
    assert error.kind is FailureKind.BAD_RESPONSE and error.retryable


# -- failures --------------------------------------------------------------------------


def test_failure_answer_is_a_non_retryable_bad_response_with_the_text(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput, template: ImageInput
) -> None:
    turbotext.enqueue(step("failure", error="Лицо не найдено", reconnects=2))
    error = failure(driver, make_job("identity_transfer", photo, (template,)))
    assert error.kind is FailureKind.BAD_RESPONSE and not error.retryable
    assert "Лицо не найдено" in error.detail


def test_failure_saying_overloaded_is_retryable(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput, template: ImageInput
) -> None:
    turbotext.enqueue(step("failure", error="Сервер перегружен, попробуйте позже"))
    error = failure(driver, make_job("style_transfer", photo, (template,)))
    assert error.kind is FailureKind.PROVIDER_5XX and error.retryable


def test_forbidden_content_is_blocked(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput, template: ImageInput
) -> None:
    turbotext.enqueue(step("forbidden", reconnects=1))
    error = failure(driver, make_job("identity_transfer", photo, (template,)))
    assert error.kind is FailureKind.BLOCKED and not error.retryable


def test_create_failure_is_reported_without_polling(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput
) -> None:
    turbotext.enqueue("create_failure")
    error = failure(driver, make_job("image_edit", photo, prompt="зима"))
    assert error.kind is FailureKind.BAD_RESPONSE
    assert turbotext.jobs == []


@pytest.mark.parametrize(
    ("behaviour", "kind", "retryable"),
    [
        ("unauthorized", FailureKind.NOT_CONFIGURED, False),
        ("rate_limited", FailureKind.QUOTA, False),
        ("server_error", FailureKind.PROVIDER_5XX, True),
    ],
)
def test_http_errors_map_to_typed_failures(
    turbotext: MockTurbotext,
    driver: TurbotextDriver,
    photo: ImageInput,
    behaviour: str,
    kind: FailureKind,
    retryable: bool,
) -> None:
    turbotext.enqueue(behaviour)
    error = failure(driver, make_job("image_edit", photo, prompt="зима"))
    assert (error.kind, error.retryable) == (kind, retryable)


def test_rate_limit_carries_retry_after(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput
) -> None:
    turbotext.enqueue("rate_limited")
    assert failure(driver, make_job("image_edit", photo, prompt="зима")).retry_after == 7.0


def test_wrong_key_is_not_configured(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput
) -> None:
    error = failure(driver, make_job("image_edit", photo, api_key="stale", prompt="зима"))
    assert error.kind is FailureKind.NOT_CONFIGURED
    assert turbotext.requests[-1].headers["authorization"] == "Bearer stale"


def test_reset_twice_is_a_retryable_network_error(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput
) -> None:
    turbotext.enqueue("reset", "reset")
    error = failure(driver, make_job("image_edit", photo, prompt="зима"))
    assert error.kind is FailureKind.NETWORK and error.retryable


# -- configuration problems -------------------------------------------------------------


@pytest.mark.parametrize("operation", ["style_transfer", "identity_transfer"])
def test_missing_template_is_not_configured(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput, operation: str
) -> None:
    error = failure(driver, make_job(operation, photo))
    assert error.kind is FailureKind.NOT_CONFIGURED
    assert "template" in error.detail
    assert turbotext.requests == []


def test_missing_public_url_is_not_configured(
    turbotext: MockTurbotext, driver: TurbotextDriver, template: ImageInput
) -> None:
    bare = ImageInput(jpeg((1, 2, 3)), "image/jpeg", "photo")
    error = failure(driver, make_job("style_transfer", bare, (template,)))
    assert error.kind is FailureKind.NOT_CONFIGURED
    assert turbotext.requests == []


def test_image_edit_without_prompt_is_not_configured(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput
) -> None:
    assert failure(driver, make_job("image_edit", photo)).kind is FailureKind.NOT_CONFIGURED


def test_malformed_numeric_setting_is_not_configured(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput
) -> None:
    error = failure(driver, make_job("image_edit", photo, prompt="зима", strength="сильно"))
    assert error.kind is FailureKind.NOT_CONFIGURED
    assert turbotext.requests == []


def test_no_key_is_not_configured(
    turbotext: MockTurbotext, driver: TurbotextDriver, photo: ImageInput
) -> None:
    error = failure(driver, make_job("image_edit", photo, api_key=None, prompt="зима"))
    assert error.kind is FailureKind.NOT_CONFIGURED
    assert turbotext.requests == []


def test_mock_refuses_links_that_do_not_serve_images(
    turbotext: MockTurbotext, driver: TurbotextDriver, files: FileHost, template: ImageInput
) -> None:
    """Guards the guard: a dead provider-media link makes the create fail."""
    dead = ImageInput(jpeg((1, 2, 3)), "image/jpeg", "photo", url=f"{files.url}/files/missing.jpg")
    error = failure(driver, make_job("style_transfer", dead, (template,)))
    assert error.kind is FailureKind.BAD_RESPONSE
    assert {f.field: f.ok for f in turbotext.fetches} == {"url_image_target": False, "url": True}


def test_schemas_per_operation() -> None:
    driver = TurbotextDriver()
    assert set(driver.operations) == {"style_transfer", "identity_transfer", "image_edit"}
    assert driver.settings_schema("image_edit")["required"] == ["prompt"]
    assert driver.default_settings("image_edit") == {
        "output_format": "auto",
        "strength": 40,
        "scale": 7.5,
        "original_language": "ru",
    }
    assert driver.default_settings("identity_transfer")["face_restore"] is True
    assert driver.input_urls and driver.needs_api_key
