"""The Gemini driver against a real-HTTP mock of ``generateContent``.

Each test states one wire fact from reference/providers.md §1 and how the
driver must turn it into a result or a typed, correctly-retryable error.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import urllib3
from PIL import Image

from photochanger.providers.base import (
    CallContext,
    DriverConfig,
    FailureKind,
    ImageInput,
    ProviderError,
    ProviderJob,
    ProviderResult,
)
from photochanger.providers.gemini import GeminiDriver
from tests.support.mock_gemini import DRAFT_COLOR, EARLIER_COLOR, MockGemini, inline_images, part_kinds
from tests.support.mockserver import step

KEY = "job-key-123"


def jpeg(size: tuple[int, int], color: tuple[int, int, int] = (120, 100, 80)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", quality=85)
    return out.getvalue()


def png(size: tuple[int, int], color: tuple[int, int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, color).save(out, "PNG")
    return out.getvalue()


def pixel(data: bytes) -> Any:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB").getpixel((0, 0))


def make_job(
    *,
    templates: tuple[ImageInput, ...] = (),
    api_key: str | None = KEY,
    photo: bytes | None = None,
    **settings: Any,
) -> ProviderJob:
    return ProviderJob(
        job_id="job-1",
        slot_id="slot-001",
        operation="image_edit",
        settings={"prompt": "Замени фон на пляж, лица не меняй", **settings},
        photo=ImageInput(photo or jpeg((80, 60)), "image/jpeg", "photo"),
        templates=templates,
        api_key=api_key,
    )


@pytest.fixture
def gemini() -> Iterator[MockGemini]:
    with MockGemini(api_key=KEY, hang_seconds=30) as mock:
        yield mock


@pytest.fixture
def driver(gemini: MockGemini) -> GeminiDriver:
    return GeminiDriver(DriverConfig(base_url=gemini.url, max_input_side=512))


def ctx(seconds: float = 10.0) -> CallContext:
    return CallContext(deadline=time.monotonic() + seconds, session=requests.Session())


def run(driver: GeminiDriver, job: ProviderJob | None = None, seconds: float = 10.0) -> ProviderResult:
    return driver.process(job or make_job(), ctx(seconds))


def failure(driver: GeminiDriver, job: ProviderJob | None = None, seconds: float = 10.0) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        run(driver, job, seconds)
    return info.value


# -- successful answers -----------------------------------------------------------


def test_success_returns_the_image_with_the_mime_sniffed_from_its_bytes(
    gemini: MockGemini, driver: GeminiDriver
) -> None:
    gemini.enqueue(step("success", fmt="JPEG", color=(10, 200, 10)))
    result = run(driver)
    assert result.mime == "image/jpeg"
    assert result.data[:3] == b"\xff\xd8\xff"
    assert len(gemini.generate_requests) == 1


def test_a_large_answer_is_read_in_a_few_large_reads(
    gemini: MockGemini, driver: GeminiDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1K answer is ~1.7 MB of JSON; requests' default reads it 10 KiB at a time."""
    reads: list[int | None] = []
    original = urllib3.response.HTTPResponse.read

    def spy(self: Any, amt: int | None = None, *args: Any, **kwargs: Any) -> bytes:
        reads.append(amt)
        return original(self, amt, *args, **kwargs)

    monkeypatch.setattr(urllib3.response.HTTPResponse, "read", spy)
    gemini.enqueue(step("success", text_before="Готово. " * 200_000, color=(9, 90, 9)))
    result = run(driver)
    assert pixel(result.data) == (9, 90, 9)
    assert 1 <= len(reads) <= 3, f"{len(reads)} reads"


@pytest.mark.parametrize("snake_case", [False, True], ids=["camelCase", "snake_case"])
def test_image_is_found_among_text_parts_in_either_spelling(
    gemini: MockGemini, driver: GeminiDriver, snake_case: bool
) -> None:
    gemini.enqueue(step("success", snake_case=snake_case, text_before="Вот ваше фото", text_after="Готово!"))
    result = run(driver)
    assert result.mime == "image/png"
    assert pixel(result.data) == (0, 160, 90)


def test_thought_drafts_are_skipped_and_the_final_image_is_used(
    gemini: MockGemini, driver: GeminiDriver
) -> None:
    gemini.enqueue(step("success", thoughts=2, color=(1, 2, 250), text_before="Думаю..."))
    result = run(driver, make_job(model="gemini-3-pro-image-preview"))
    assert pixel(result.data) == (1, 2, 250) != DRAFT_COLOR


def test_the_last_of_several_images_is_the_answer(gemini: MockGemini, driver: GeminiDriver) -> None:
    gemini.enqueue(step("success", earlier_images=1, text_after="ok", color=(3, 4, 5)))
    assert pixel(run(driver).data) == (3, 4, 5) != EARLIER_COLOR


def test_thought_drafts_alone_are_not_a_result(gemini: MockGemini, driver: GeminiDriver) -> None:
    gemini.enqueue(step("success", thoughts=2, final=False))
    error = failure(driver, make_job(model="gemini-3-pro-image-preview"))
    assert error.kind is FailureKind.BAD_RESPONSE and error.retryable


# -- the request on the wire ------------------------------------------------------


def test_request_carries_prompt_then_photo_then_templates_in_slot_order(
    gemini: MockGemini, driver: GeminiDriver
) -> None:
    first = ImageInput(png((30, 30), (255, 0, 0, 128)), "image/png", "template")
    second = ImageInput(jpeg((40, 20), (0, 0, 255)), "image/jpeg", "template")
    job = make_job(templates=(first, second), photo=jpeg((80, 60), (200, 200, 200)))
    run(driver, job)

    sent = gemini.generate_requests[-1]
    assert part_kinds(sent) == ["text", "image", "image", "image"]
    assert sent.json["contents"][0]["parts"][0]["text"] == job.prompt
    images = inline_images(sent)
    assert [mime for mime, _ in images] == ["image/jpeg", "image/png", "image/jpeg"]
    # Small images go out byte-for-byte, so order is provable by identity.
    assert [data for _, data in images] == [job.photo.data, first.data, second.data]


@pytest.mark.parametrize(
    "prompt",
    [
        'Фон «пляж», текст "Привет"\nвторая строка\t\\ конец',
        '"}]}],"generationConfig":{"responseModalities":["TEXT"]}} {"inlineData": 1}',
        "emoji 📸 and \u2028 line separator",
    ],
)
def test_prompt_text_reaches_gemini_verbatim_whatever_it_contains(
    gemini: MockGemini, driver: GeminiDriver, prompt: str
) -> None:
    """The body is spliced around the base64 bytes; the prompt must still be JSON-escaped."""
    job = make_job(prompt=prompt, aspect_ratio="3:4")
    run(driver, job)
    sent = gemini.generate_requests[-1]
    assert sent.json["contents"][0]["parts"][0]["text"] == prompt
    assert part_kinds(sent) == ["text", "image"]
    assert sent.json["generationConfig"] == {
        "responseModalities": ["IMAGE"],
        "imageConfig": {"aspectRatio": "3:4"},
    }
    assert [data for _, data in inline_images(sent)] == [job.photo.data]


def test_request_passes_strict_field_validation_and_uses_the_jobs_key(
    gemini: MockGemini, driver: GeminiDriver
) -> None:
    run(driver, make_job(aspect_ratio="3:4"))
    sent = gemini.generate_requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert sent.headers["x-goog-api-key"] == KEY
    assert gemini.validate(sent, "gemini-2.5-flash-image") is None
    config = sent.json["generationConfig"]
    assert config["responseModalities"] == ["IMAGE"]
    assert config["imageConfig"] == {"aspectRatio": "3:4"}


def test_the_key_saved_in_settings_wins_over_the_environment_default(gemini: MockGemini) -> None:
    driver = GeminiDriver(DriverConfig(base_url=gemini.url, default_api_key="env-key"))
    run(driver, make_job(api_key=KEY))
    assert gemini.generate_requests[-1].headers["x-goog-api-key"] == KEY


def test_environment_key_is_used_when_the_job_has_none(gemini: MockGemini) -> None:
    driver = GeminiDriver(DriverConfig(base_url=gemini.url, default_api_key=KEY))
    run(driver, make_job(api_key=None))
    assert gemini.generate_requests[-1].headers["x-goog-api-key"] == KEY


def test_no_key_at_all_is_not_configured_and_sends_nothing(gemini: MockGemini) -> None:
    driver = GeminiDriver(DriverConfig(base_url=gemini.url))
    error = failure(driver, make_job(api_key=None))
    assert error.kind is FailureKind.NOT_CONFIGURED and not error.retryable
    assert gemini.requests == []


def test_mock_rejects_unknown_fields_like_google(gemini: MockGemini) -> None:
    """Guards the guard: the strict validation the driver's requests pass can fail."""
    body = {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "generationConfig": {"responseModalities": ["IMAGE"], "imageFormat": "png"},
    }
    resp = requests.post(
        f"{gemini.url}/v1beta/models/gemini-2.5-flash-image:generateContent",
        data=json.dumps(body),
        headers={"x-goog-api-key": KEY, "Content-Type": "application/json"},
        timeout=5,
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert 'Unknown name "imageFormat"' in resp.json()["error"]["message"]


def test_big_photo_is_downscaled_to_max_input_side(gemini: MockGemini, driver: GeminiDriver) -> None:
    run(driver, make_job(photo=jpeg((3000, 2000))))
    ((mime, sent),) = inline_images(gemini.generate_requests[-1])
    with Image.open(io.BytesIO(sent)) as im:
        assert max(im.size) == 512
    assert mime == "image/jpeg"


@pytest.mark.parametrize(
    ("model", "sent"),
    [("gemini-2.5-flash-image", False), ("gemini-3-pro-image-preview", True)],
)
def test_image_size_is_sent_only_to_3_pro(
    gemini: MockGemini, driver: GeminiDriver, model: str, sent: bool
) -> None:
    run(driver, make_job(model=model, image_size="2K"))
    request = gemini.generate_requests[-1]
    assert request.path == f"/v1beta/models/{model}:generateContent"
    assert ("imageSize" in json.dumps(request.json)) is sent


# -- failures that arrive as HTTP 200 or as error statuses -------------------------

BAD, BLOCKED, CONFIG, P5XX = (
    FailureKind.BAD_RESPONSE,
    FailureKind.BLOCKED,
    FailureKind.NOT_CONFIGURED,
    FailureKind.PROVIDER_5XX,
)
FAILURE_TABLE = [
    # answers without an image: the next attempt usually works
    ("no_image", BAD, True),
    ("image_other", BAD, True),
    ("text_only", BAD, True),
    # moderation: retrying cannot help
    ("blocked_prompt", BLOCKED, False),
    (step("blocked_prompt", reason="PROHIBITED_CONTENT"), BLOCKED, False),
    ("image_safety", BLOCKED, False),
    (step("image_safety", reason="IMAGE_PROHIBITED_CONTENT"), BLOCKED, False),
    (step("image_safety", reason="SAFETY"), BLOCKED, False),
    # unusable 200 bodies
    ("not_json", BAD, True),
    ("bad_base64", BAD, True),
    ("not_an_image", BAD, True),
    ("truncated_image", BAD, True),
    # key, billing or region problems: an admin must act
    ("permission_denied", CONFIG, False),
    ("failed_precondition", CONFIG, False),
    # transient server trouble
    ("internal", P5XX, True),
    ("overloaded", P5XX, True),
    ("deadline_exceeded", P5XX, True),
]


@pytest.mark.parametrize(
    ("behaviour", "kind", "retryable"),
    FAILURE_TABLE,
    ids=["-".join([b] if isinstance(b, str) else [b.name, *b.options.values()]) for b, _, _ in FAILURE_TABLE],
)
def test_failure_table(
    gemini: MockGemini, driver: GeminiDriver, behaviour: Any, kind: FailureKind, retryable: bool
) -> None:
    gemini.enqueue(behaviour)
    error = failure(driver)
    assert (error.kind, error.retryable) == (kind, retryable)


def test_no_image_twice_then_success_works_when_the_caller_retries(
    gemini: MockGemini, driver: GeminiDriver
) -> None:
    """The production NO_IMAGE case: each call fails retryably; the third succeeds."""
    gemini.enqueue("no_image", "no_image", "success")
    for _ in range(2):
        assert failure(driver).retryable
    assert run(driver).mime == "image/png"
    assert len(gemini.generate_requests) == 3


def test_quota_is_not_retried_and_carries_retry_delay(gemini: MockGemini, driver: GeminiDriver) -> None:
    gemini.enqueue(step("quota", retry_delay="26s"))
    error = failure(driver)
    assert error.kind is FailureKind.QUOTA
    assert not error.retryable
    assert error.retry_after == 26.0


def test_invalid_key_is_not_configured_and_says_so(gemini: MockGemini, driver: GeminiDriver) -> None:
    error = failure(driver, make_job(api_key="wrong-key"))
    assert error.kind is FailureKind.NOT_CONFIGURED
    assert not error.retryable
    assert "invalid" in error.detail.lower()
    assert gemini.generate_requests[-1].headers["x-goog-api-key"] == "wrong-key"


def test_retired_model_is_a_non_retryable_bad_response_naming_the_model(
    gemini: MockGemini,
) -> None:
    driver = GeminiDriver(DriverConfig(base_url=gemini.url))
    error = failure(driver, make_job(model="gemini-2.0-flash-exp-image"))
    assert error.kind is FailureKind.BAD_RESPONSE and not error.retryable
    assert "gemini-2.0-flash-exp-image" in error.detail
    assert "retired" in error.detail


# -- transport --------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["reset", "disconnect"])
def test_dropped_connection_twice_is_a_retryable_network_error(
    gemini: MockGemini, driver: GeminiDriver, behaviour: str
) -> None:
    gemini.enqueue(behaviour, behaviour)
    error = failure(driver)
    assert error.kind is FailureKind.NETWORK
    assert error.retryable
    assert len(gemini.generate_requests) == 2  # one in-driver retry of a reset, no more


def test_a_single_reset_is_retried_once_inside_the_driver(gemini: MockGemini, driver: GeminiDriver) -> None:
    gemini.enqueue("reset", "success")
    assert run(driver).mime == "image/png"
    assert len(gemini.generate_requests) == 2


def test_no_in_driver_retry_when_too_little_time_is_left(gemini: MockGemini, driver: GeminiDriver) -> None:
    gemini.enqueue("reset", "success")
    error = failure(driver, seconds=1.0)
    assert error.kind is FailureKind.NETWORK
    assert len(gemini.generate_requests) == 1


def test_hanging_provider_fails_within_the_deadline(gemini: MockGemini, driver: GeminiDriver) -> None:
    gemini.enqueue("hang")
    started = time.monotonic()
    error = failure(driver, seconds=1.5)
    assert time.monotonic() - started < 1.5 + 1.0
    assert error.kind is FailureKind.TIMEOUT
    assert not error.retryable


def test_slow_answer_within_the_deadline_is_not_cut_by_a_fixed_timeout(
    gemini: MockGemini, driver: GeminiDriver
) -> None:
    gemini.enqueue(step("hang", seconds=0.5))
    assert run(driver, seconds=3.0).mime == "image/png"


def test_unreachable_provider_is_a_network_error() -> None:
    with MockGemini() as gone:
        url = gone.url
    error = failure(GeminiDriver(DriverConfig(base_url=url)))
    assert error.kind is FailureKind.NETWORK and error.retryable


# -- configuration ------------------------------------------------------------------


def test_settings_schema_declares_prompt_model_and_ratio_with_russian_titles() -> None:
    schema = GeminiDriver().settings_schema("image_edit")
    props = schema["properties"]
    assert schema["required"] == ["prompt"]
    assert props["model"]["default"] == "gemini-2.5-flash-image"
    assert props["aspect_ratio"]["default"] == "auto" and len(props["aspect_ratio"]["enum"]) == 11
    assert props["image_size"]["enum"] == ["1K", "2K", "4K"]
    assert all(any("а" <= ch <= "я" for ch in p["title"].lower()) for p in props.values())


def test_missing_prompt_is_not_configured(gemini: MockGemini, driver: GeminiDriver) -> None:
    error = failure(driver, make_job(prompt="  "))
    assert error.kind is FailureKind.NOT_CONFIGURED
    assert gemini.requests == []
