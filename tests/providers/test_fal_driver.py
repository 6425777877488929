"""The FAL driver against a real-HTTP mock of the queue, its input fetches and its CDN."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from photochanger.providers.base import CallContext, DriverConfig, FailureKind, ImageInput
from photochanger.providers.fal import FalDriver
from tests.support.drivers import color, ctx, failure, image_input, make_job
from tests.support.mock_fal import MockFal
from tests.support.mockserver import step

KEY = "fal-key-42"


@pytest.fixture
def fal() -> Iterator[MockFal]:
    with MockFal(api_key=KEY) as mock:
        yield mock


@pytest.fixture
def driver(fal: MockFal) -> FalDriver:
    return FalDriver(DriverConfig(base_url=fal.url, poll_interval=0.05))


def edit(photo, templates=(), api_key=KEY, **settings):
    return make_job("image_edit", photo, templates, api_key, **{"prompt": "в стиле комикса", **settings})


def test_nano_banana_edit_gets_every_image_link_and_the_result_comes_from_the_cdn(
    fal: MockFal, driver: FalDriver, photo: ImageInput, template: ImageInput
) -> None:
    fal.enqueue(step("success", queued=2, in_progress=2, color=(1, 2, 250)))
    result = driver.process(edit(photo, (template,), aspect_ratio="3:4", output_format="png", seed=7), ctx())
    job = fal.jobs[-1]
    assert job.model == "fal-ai/nano-banana/edit"
    assert job.input == {
        "prompt": "в стиле комикса",
        "image_urls": [photo.url, template.url],
        "num_images": 1,
        "aspect_ratio": "3:4",
        "output_format": "png",
        "seed": 7,
    }
    assert job.polls == 5  # two IN_QUEUE, two IN_PROGRESS, then COMPLETED
    assert [f.ok for f in fal.fetches] == [True, True]
    assert color(result.data) == (1, 2, 250)
    queue_calls = list(fal.requests)
    assert all(r.headers["authorization"] == f"Key {KEY}" for r in queue_calls)
    # The status/result URLs drop the "/edit" subpath: used as returned, never rebuilt.
    assert {r.path for r in queue_calls if r.method == "GET"} == {
        f"/fal-ai/nano-banana/requests/{job.request_id}/status",
        f"/fal-ai/nano-banana/requests/{job.request_id}",
    }
    (download,) = fal.cdn.requests
    assert "authorization" not in download.headers  # the key stays with FAL's queue


def test_flux_kontext_takes_the_photo_only(fal: MockFal, driver: FalDriver, photo, template) -> None:
    driver.process(edit(photo, (template,), model="fal-ai/flux-pro/kontext", output_format="webp"), ctx())
    assert fal.jobs[-1].input == {"prompt": "в стиле комикса", "image_url": photo.url}


def test_imagen4_text_to_image_sends_no_image(fal: MockFal, driver: FalDriver, photo) -> None:
    job = make_job("text_to_image", photo, (), KEY, prompt="портрет в космосе", negative_prompt="text")
    driver.process(job, ctx())
    assert fal.jobs[-1].model == "fal-ai/imagen4/preview"
    assert fal.jobs[-1].input == {"prompt": "портрет в космосе", "num_images": 1, "negative_prompt": "text"}
    assert fal.fetches == []


def test_data_uri_output_needs_no_download(fal: MockFal, driver: FalDriver, photo) -> None:
    fal.enqueue(step("success", data_uri=True))
    assert driver.process(edit(photo), ctx()).mime == "image/png"
    assert fal.cdn.requests == []


def test_inputs_without_public_links_are_not_configured(fal: MockFal, driver: FalDriver) -> None:
    assert failure(driver, edit(image_input("photo", (1, 1, 1)))).kind is FailureKind.NOT_CONFIGURED
    assert fal.requests == []


def test_a_model_of_the_other_operation_is_refused(fal: MockFal, driver: FalDriver, photo) -> None:
    assert failure(driver, edit(photo, model="fal-ai/imagen4/preview")).kind is FailureKind.NOT_CONFIGURED


@pytest.mark.parametrize(
    ("behaviour", "kind", "retryable"),
    [
        ("content_policy", FailureKind.BLOCKED, False),
        ("nsfw", FailureKind.BLOCKED, False),
        ("image_too_small", FailureKind.BAD_RESPONSE, False),
        ("no_images", FailureKind.BAD_RESPONSE, True),
        ("request_timeout", FailureKind.PROVIDER_5XX, True),
        ("runner_failure", FailureKind.PROVIDER_5XX, True),
        ("balance_exhausted", FailureKind.QUOTA, False),
        ("rate_limited", FailureKind.QUOTA, True),
        ("submit_error", FailureKind.PROVIDER_5XX, True),
        (step("success", broken_image=True), FailureKind.BAD_RESPONSE, True),
    ],
    ids=lambda v: v if isinstance(v, str) else getattr(v, "name", None),
)
def test_failure_shapes(fal: MockFal, driver: FalDriver, photo, behaviour, kind, retryable) -> None:
    fal.enqueue(behaviour)
    model = "fal-ai/flux-pro/kontext" if behaviour == "nsfw" else "fal-ai/nano-banana/edit"
    error = failure(driver, edit(photo, model=model))
    assert (error.kind, error.retryable) == (kind, retryable), error.detail


def test_wrong_key_is_not_configured(fal: MockFal, driver: FalDriver, photo) -> None:
    assert failure(driver, edit(photo, api_key="other")).kind is FailureKind.NOT_CONFIGURED


def test_unreachable_input_link_is_a_bad_response(fal: MockFal, driver: FalDriver) -> None:
    gone = ImageInput(b"x", "image/jpeg", "photo", url="http://127.0.0.1:9/gone.jpg")
    error = failure(driver, edit(gone))
    assert error.kind is FailureKind.BAD_RESPONSE and "file_download_error" in error.detail


def test_polling_never_outlives_the_deadline(fal: MockFal, photo) -> None:
    driver = FalDriver(DriverConfig(base_url=fal.url, poll_interval=0.3))
    fal.enqueue("hang")
    slept: list[float] = []
    call = CallContext(
        deadline=time.monotonic() + 1.0,
        session=requests.Session(),
        sleep=lambda s: (slept.append(s), time.sleep(s)),
    )
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        driver.process(edit(photo), call)
    assert getattr(info.value, "kind", None) is FailureKind.TIMEOUT
    assert time.monotonic() - started < 1.5
    assert max(slept) <= 0.3
