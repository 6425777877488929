"""The generic HTTP-service driver against a real-HTTP mock of a studio's ML service."""

from __future__ import annotations

import base64

import pytest

from photochanger.providers.base import DriverConfig, FailureKind
from photochanger.providers.http_service import HttpServiceDriver, parse_headers
from tests.support.drivers import color, ctx, failure, image_input, make_job
from tests.support.mock_http_service import MockHttpService
from tests.support.mockserver import step

KEY = "svc-key-42"
PHOTO = image_input("photo", (200, 10, 10))
TEMPLATE = image_input("style", (10, 10, 200))
DRIVER = HttpServiceDriver(DriverConfig())


def job(service: MockHttpService, api_key: str | None = KEY, templates=(), **settings):
    return make_job("image_edit", PHOTO, templates, api_key, **{"url": service.endpoint, **settings})


def test_multipart_photo_with_the_key_in_the_configured_header() -> None:
    with MockHttpService(api_key=KEY, field="file") as svc:
        settings = {"field_name": "file", "auth_header": "X-API-Key", "auth_scheme": "plain", "prompt": "hi"}
        result = DRIVER.process(job(svc, templates=(TEMPLATE,), **settings), ctx())
        (call,) = svc.calls
        assert call.headers["x-api-key"] == KEY
        assert [(f.field, f.data) for f in call.files] == [("file", PHOTO.data)]  # no template field set
        assert call.form == {"prompt": "hi"}
        assert color(result.data) == (90, 90, 10)


def test_templates_go_in_their_own_field_and_extra_headers_are_sent() -> None:
    with MockHttpService() as svc:
        settings = {"template_field": "refs", "headers": "X-Studio: north\n\nX-Trace: 1"}
        DRIVER.process(job(svc, templates=(TEMPLATE,), **settings), ctx())
        call = svc.calls[-1]
        assert [f.field for f in call.files] == ["image", "refs"]
        assert (call.headers["x-studio"], call.headers["x-trace"]) == ("north", "1")
        assert call.headers["authorization"] == f"Bearer {KEY}"


def test_binary_body_by_put() -> None:
    with MockHttpService(accepts="binary", method="PUT") as svc:
        DRIVER.process(job(svc, request_format="binary", method="PUT"), ctx())
        call = svc.calls[-1]
        assert call.body == PHOTO.data and call.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("answer", "settings"),
    [
        (
            step("json_base64", path="data.0.b64_json"),
            {"response_format": "json_base64", "response_field": "data.0.b64_json"},
        ),
        (step("json_base64", data_uri=True), {"response_format": "json_base64"}),
        (step("json_url"), {"response_format": "json_url", "response_field": "result.url"}),
        (step("json_url", relative=True), {"response_format": "json_url", "response_field": "result.url"}),
    ],
    ids=["base64-path", "data-uri", "absolute-url", "relative-url"],
)
def test_json_answers(answer, settings) -> None:
    with MockHttpService(accepts="json_base64") as svc:
        svc.enqueue(answer)
        result = DRIVER.process(job(svc, request_format="json_base64", prompt="p", **settings), ctx())
        sent = svc.calls[-1].json
        assert base64.b64decode(sent["image"]) == PHOTO.data and sent["prompt"] == "p"
        assert color(result.data) == (90, 90, 10)


def test_no_key_anywhere_sends_no_auth_header() -> None:
    with MockHttpService() as svc:
        DRIVER.process(job(svc, api_key=None), ctx())
        assert "authorization" not in svc.calls[-1].headers


@pytest.mark.parametrize(
    ("behaviour", "kind", "retryable"),
    [
        ("unprocessable", FailureKind.BAD_RESPONSE, False),
        ("legal", FailureKind.BLOCKED, False),
        ("unauthorized", FailureKind.NOT_CONFIGURED, False),
        ("rate_limited", FailureKind.QUOTA, True),
        ("unavailable", FailureKind.PROVIDER_5XX, True),
        ("server_error", FailureKind.PROVIDER_5XX, True),
        ("not_an_image", FailureKind.BAD_RESPONSE, True),
    ],
)
def test_failure_shapes(behaviour: str, kind: FailureKind, retryable: bool) -> None:
    with MockHttpService() as svc:
        svc.enqueue(behaviour)
        error = failure(DRIVER, job(svc))
        assert (error.kind, error.retryable) == (kind, retryable), error.detail


@pytest.mark.parametrize(
    ("settings", "kind"),
    [
        ({"field_name": "photo"}, FailureKind.BAD_RESPONSE),  # the service's own 422: field missing
        ({"method": "PUT"}, FailureKind.NOT_CONFIGURED),  # 405
        ({"url": "http://127.0.0.1:1/none"}, FailureKind.NETWORK),
        ({"response_format": "json_url"}, FailureKind.BAD_RESPONSE),  # got image bytes, not JSON
        ({"headers": "no colon here"}, FailureKind.NOT_CONFIGURED),
    ],
    ids=["wrong-field", "wrong-method", "nothing-listens", "wrong-answer-format", "bad-header-line"],
)
def test_settings_that_do_not_fit_the_service(settings: dict, kind: FailureKind) -> None:
    with MockHttpService() as svc:
        assert failure(DRIVER, job(svc, **settings)).kind is kind


def test_a_wrong_path_is_not_configured() -> None:
    with MockHttpService() as svc:
        assert failure(DRIVER, job(svc, url=svc.url + "/nope")).kind is FailureKind.NOT_CONFIGURED


def test_header_lines() -> None:
    assert parse_headers("A: 1\nB-C:  two words \n") == {"A": "1", "B-C": "two words"}
