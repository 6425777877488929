"""The ComfyUI driver against a real-HTTP mock server: upload, queue, history, view."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from photochanger.providers.base import DriverConfig, FailureKind
from photochanger.providers.comfyui import ComfyUIDriver, shipped_workflow
from tests.support.drivers import color, ctx, failure, image_input, make_job
from tests.support.mock_comfyui import MockComfyUI
from tests.support.mockserver import step

PHOTO = image_input("photo", (200, 10, 10))
FACE_BASE = image_input("face", (10, 10, 200))


@pytest.fixture
def comfy() -> Iterator[MockComfyUI]:
    with MockComfyUI() as mock:
        yield mock


@pytest.fixture
def driver(comfy: MockComfyUI) -> ComfyUIDriver:
    return ComfyUIDriver(DriverConfig(base_url=comfy.url, poll_interval=0.05))


def face_swap(templates=(FACE_BASE,), api_key=None, **settings):
    return make_job(
        "identity_transfer",
        PHOTO,
        templates,
        api_key,
        **{"workflow": shipped_workflow("face_swap.json"), **settings},
    )


def img2img(**settings):
    base = {"workflow": shipped_workflow("img2img.json"), "prompt": "акварельный портрет"}
    return make_job("image_edit", PHOTO, (), None, **{**base, **settings})


def test_shipped_face_swap_uploads_both_images_and_puts_the_guest_face_on_the_template(
    comfy: MockComfyUI, driver: ComfyUIDriver
) -> None:
    comfy.enqueue(step("success", pending_polls=2, color=(5, 250, 5)))
    result = driver.process(face_swap(), ctx())
    assert {name: u.data for name, u in comfy.uploads.items()} == {
        "photochanger-job-7-photo.jpg": PHOTO.data,
        "photochanger-job-7-template_1.jpg": FACE_BASE.data,
    }
    run = comfy.runs[-1]
    assert run.prompt["1"]["inputs"]["image"] == "photochanger-job-7-template_1.jpg"  # face replaced here
    assert run.prompt["2"]["inputs"]["image"] == "photochanger-job-7-photo.jpg"  # by the guest's
    assert run.client_id == "photochanger-job-7"
    assert run.polls == 3
    assert color(result.data) == (5, 250, 5)


def test_prompt_and_seed_placeholders_are_filled(comfy: MockComfyUI, driver: ComfyUIDriver) -> None:
    driver.process(img2img(seed=1234), ctx())
    nodes = comfy.runs[-1].prompt
    assert nodes["4"]["inputs"]["text"] == "акварельный портрет"
    assert nodes["6"]["inputs"]["seed"] == 1234  # a number, not "{{seed}}"


def test_without_a_seed_each_run_gets_a_random_one(comfy: MockComfyUI, driver: ComfyUIDriver) -> None:
    driver.process(img2img(), ctx())
    driver.process(img2img(), ctx())
    seeds = [run.prompt["6"]["inputs"]["seed"] for run in comfy.runs]
    assert all(isinstance(s, int) for s in seeds) and seeds[0] != seeds[1]


def test_the_saved_image_wins_over_previews(comfy: MockComfyUI, driver: ComfyUIDriver) -> None:
    comfy.enqueue(step("success", preview=True, color=(9, 9, 9)))
    assert color(driver.process(img2img(), ctx()).data) == (9, 9, 9)
    (view,) = [r for r in comfy.requests if r.path == "/view"]
    assert view.query["type"] == "output"


def test_a_key_when_configured_goes_to_every_call() -> None:
    with MockComfyUI(api_key="proxy-key") as comfy:
        driver = ComfyUIDriver(DriverConfig(base_url=comfy.url, poll_interval=0.05))
        driver.process(face_swap(api_key="proxy-key"), ctx())
        assert {r.headers.get("authorization") for r in comfy.requests} == {"Bearer proxy-key"}
        assert failure(driver, face_swap()).kind is FailureKind.NOT_CONFIGURED  # no key: the proxy says 401


@pytest.mark.parametrize(
    ("job", "reason"),
    [
        (face_swap(templates=()), "template"),
        (face_swap(workflow="{not json"), "not JSON"),
        (face_swap(workflow="[]"), "JSON object"),
    ],
    ids=["template-missing", "not-json", "not-an-object"],
)
def test_broken_slot_configuration_is_not_configured_before_any_call(
    comfy: MockComfyUI, driver: ComfyUIDriver, job, reason
) -> None:
    error = failure(driver, job)
    assert error.kind is FailureKind.NOT_CONFIGURED and reason in error.detail
    assert comfy.requests == []


def test_a_workflow_needing_a_node_the_server_lacks_is_not_configured(
    comfy: MockComfyUI, driver: ComfyUIDriver
) -> None:
    workflow = json.loads(shipped_workflow("face_swap.json"))
    workflow["3"]["class_type"] = "FaceFusion"
    error = failure(driver, face_swap(workflow=json.dumps(workflow)))
    assert error.kind is FailureKind.NOT_CONFIGURED and "FaceFusion does not exist" in error.detail


@pytest.mark.parametrize(
    ("behaviour", "kind", "retryable"),
    [
        ("execution_error", FailureKind.BAD_RESPONSE, False),
        ("out_of_memory", FailureKind.PROVIDER_5XX, True),
        ("interrupted", FailureKind.PROVIDER_5XX, True),
        ("no_outputs", FailureKind.BAD_RESPONSE, False),
        ("view_missing", FailureKind.BAD_RESPONSE, False),
        ("missing_model", FailureKind.NOT_CONFIGURED, False),
        ("legacy_error", FailureKind.NOT_CONFIGURED, False),
        ("server_error", FailureKind.PROVIDER_5XX, True),
    ],
)
def test_failure_shapes(comfy: MockComfyUI, driver: ComfyUIDriver, behaviour, kind, retryable) -> None:
    comfy.enqueue(behaviour)
    error = failure(driver, face_swap())
    assert (error.kind, error.retryable) == (kind, retryable), error.detail


def test_runtime_error_names_the_node_and_exception(comfy: MockComfyUI, driver: ComfyUIDriver) -> None:
    comfy.enqueue(step("execution_error", exception_type="KeyError", exception_message="'face'"))
    detail = failure(driver, face_swap()).detail
    assert "ReActorFaceSwap" in detail and "KeyError" in detail


def test_a_run_that_never_finishes_ends_at_the_deadline(comfy: MockComfyUI, driver: ComfyUIDriver) -> None:
    comfy.enqueue("hang")
    assert failure(driver, face_swap(), seconds=0.6).kind is FailureKind.TIMEOUT


def test_server_down_is_a_network_failure() -> None:
    driver = ComfyUIDriver(DriverConfig(base_url="http://127.0.0.1:9", poll_interval=0.05))
    error = failure(driver, face_swap())
    assert (error.kind, error.retryable) == (FailureKind.NETWORK, True)
