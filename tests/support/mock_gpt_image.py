"""Mock of OpenAI ``POST /v1/images/edits`` as a real HTTP server (wire facts: reference/providers.md §6).

Usage::

    with MockGptImage(api_key="sk-1") as openai:
        app.config["GPT_IMAGE_API_BASE"] = openai.url
        openai.enqueue("rate_limited", "success")
        ...
        req = openai.edit_requests[-1]        # RecordedRequest: form (text fields), files (image[] parts)

Every request is validated as OpenAI does *before* a step is consumed:
missing/other key → 401 ``invalid_api_key``; unknown form fields (e.g.
``response_format``) → 400 ``unknown_parameter``; bad ``model``/``size``/
``quality``/``background``/``output_format``/``input_fidelity`` values, a
transparent background with jpeg, ``input_fidelity`` for gpt-image-1-mini,
no prompt, no ``image[]`` part, more than 16 or an unreadable image → 400
``invalid_request_error``.

Behaviours (one per valid request; options in brackets):

- ``success`` [color=(200,120,0), size=(64,48)] — 200 ``data[0].b64_json``, in the asked
  ``output_format`` (png by default).
- ``moderation_blocked`` — 400 ``code: moderation_blocked``.
- ``rate_limited`` [retry_after="7"] — 429 ``rate_limit_exceeded`` with a ``retry-after`` header.
- ``insufficient_quota`` — 429 type/code ``insufficient_quota``.
- ``billing_limit`` — 400 ``billing_hard_limit_reached``.
- ``org_not_verified`` — 403; ``invalid_key`` — 401 ``invalid_api_key``.
- ``server_error`` — 500; ``overloaded`` — 503.
- ``not_json`` (200 HTML), ``no_data`` (200 ``data: []``), ``bad_base64``, ``not_an_image``.
- ``reset``, ``disconnect``, ``hang`` [seconds] (then ``success``).
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from .mockserver import (
    MockServer,
    RecordedRequest,
    Reply,
    Step,
    image_bytes,
    image_ok,
    json_reply,
)

MODELS = ("gpt-image-1", "gpt-image-1.5", "gpt-image-1-mini")
CHOICES = {
    "size": {"auto", "1024x1024", "1536x1024", "1024x1536"},
    "quality": {"auto", "low", "medium", "high"},
    "background": {"auto", "opaque", "transparent"},
    "output_format": {"png", "jpeg", "webp"},
    "input_fidelity": {"high", "low"},
}
KNOWN_FIELDS = {"prompt", "model", "n", "output_compression", "user", "mask", "image[]", *CHOICES}
IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp"}


def _error(
    status: int,
    message: str,
    kind: str,
    code: str | None,
    param: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Reply:
    return json_reply(
        status, {"error": {"message": message, "type": kind, "param": param, "code": code}}, headers
    )


def _bad(message: str, param: str | None, code: str = "invalid_value") -> Reply:
    return _error(400, message, "invalid_request_error", code, param)


class MockGptImage(MockServer):
    """See the module docstring for the behaviours and options."""

    BEHAVIOURS: ClassVar[frozenset[str]] = frozenset(
        [
            "success",
            "moderation_blocked",
            "rate_limited",
            "insufficient_quota",
            "billing_limit",
            "org_not_verified",
            "invalid_key",
            "server_error",
            "overloaded",
            "not_json",
            "no_data",
            "bad_base64",
            "not_an_image",
            "reset",
            "disconnect",
            "hang",
        ]
    )

    def __init__(
        self, *, api_key: str | None = None, default: str | Step = "success", hang_seconds: float = 60.0
    ) -> None:
        self.api_key = api_key
        super().__init__(default=default, hang_seconds=hang_seconds)

    @property
    def edit_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/images/edits"]

    def handle(self, request: RecordedRequest) -> Reply | str:
        if request.method != "POST" or request.path != "/v1/images/edits":
            return _error(
                404, f"Invalid URL ({request.method} {request.path})", "invalid_request_error", None
            )
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return _error(401, "You didn't provide an API key.", "invalid_request_error", None)
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            return self._reply("invalid_key", {})
        problem = self.validate(request)
        if problem is not None:
            return problem
        current = self.next_step()
        return self._reply(
            current.name, {"format": (request.form or {}).get("output_format", "png"), **current.options}
        )

    @staticmethod
    def validate(request: RecordedRequest) -> Reply | None:
        """The 400 OpenAI would answer for this body, or ``None``."""
        if request.form is None:
            return _bad("Expected a multipart/form-data body.", None, "invalid_request")
        form = request.form
        for name in [*form, *(f.field for f in request.files)]:
            if name not in KNOWN_FIELDS:
                return _bad(f"Unknown parameter: '{name}'.", name, "unknown_parameter")
        if not form.get("prompt"):
            return _bad("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
        model = form.get("model", "dall-e-2")
        if model not in MODELS:
            return _bad(f"Invalid value: '{model}'. Supported values are: {', '.join(MODELS)}.", "model")
        for name, allowed in CHOICES.items():
            if name in form and form[name] not in allowed:
                return _bad(f"Invalid value: '{form[name]}'. Supported values are: {sorted(allowed)}.", name)
        if form.get("background") == "transparent" and form.get("output_format") == "jpeg":
            return _bad("Transparent background is not supported for the jpeg output format.", "background")
        if "input_fidelity" in form and model == "gpt-image-1-mini":
            return _bad("input_fidelity is not supported for gpt-image-1-mini.", "input_fidelity")
        images = [f for f in request.files if f.field == "image[]"]
        if not images:
            return _bad("Missing required parameter: 'image'.", "image", "missing_required_parameter")
        if len(images) > 16:
            return _bad("Too many images: at most 16 are allowed.", "image")
        for image in images:
            if image.content_type not in IMAGE_TYPES or not image_ok(image.data):
                return _bad(
                    f"Invalid image file or mode for image {images.index(image) + 1}, "
                    "please check your image file.",
                    "image",
                    "invalid_image_file",
                )
        return None

    def _reply(self, name: str, opts: dict[str, Any]) -> Reply | str:
        if name == "success":
            return json_reply(200, self._success(opts))
        if name == "moderation_blocked":
            return _error(
                400,
                "Your request was rejected by the safety system. safety_violations=[sexual].",
                "image_generation_user_error",
                "moderation_blocked",
            )
        if name == "rate_limited":
            return _error(
                429,
                "Rate limit reached for gpt-image-1 on images per min (IPM): Limit 5, Used 5, Requested 1.",
                "requests",
                "rate_limit_exceeded",
                headers=(("retry-after", str(opts.get("retry_after", "7"))),),
            )
        if name == "insufficient_quota":
            return _error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            )
        if name == "billing_limit":
            return _error(
                400,
                "Billing hard limit has been reached",
                "invalid_request_error",
                "billing_hard_limit_reached",
            )
        if name == "org_not_verified":
            return _error(
                403,
                "Your organization must be verified to use the model `gpt-image-1`.",
                "invalid_request_error",
                None,
            )
        if name == "invalid_key":
            return _error(
                401, "Incorrect API key provided: sk-***.", "invalid_request_error", "invalid_api_key"
            )
        if name == "server_error":
            return _error(500, "The server had an error while processing your request.", "server_error", None)
        if name == "overloaded":
            return _error(
                503, "The engine is currently overloaded, please try again later.", "server_error", None
            )
        if name == "not_json":
            return Reply(200, b"<html>upstream connect error</html>", "text/html")
        if name == "no_data":
            return json_reply(200, {"created": 1713833628, "data": []})
        if name in ("bad_base64", "not_an_image"):
            encoded = "!!!" if name == "bad_base64" else base64.b64encode(b"not a png").decode()
            return json_reply(200, {"created": 1713833628, "data": [{"b64_json": encoded}]})
        answer = self.connection_answer(name, opts, lambda: self._reply("success", opts))
        if answer is None:
            raise AssertionError(name)
        return answer

    @staticmethod
    def _success(opts: dict[str, Any]) -> dict[str, Any]:
        fmt = {"jpeg": "JPEG", "webp": "WEBP"}.get(str(opts.get("format")), "PNG")
        width, height = opts.get("size", (64, 48))
        red, green, blue = opts.get("color", (200, 120, 0))
        data = image_bytes((int(width), int(height)), (int(red), int(green), int(blue)), fmt)
        usage = {
            "input_tokens": 50,
            "output_tokens": 272,
            "total_tokens": 322,
            "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
        }
        return {
            "created": 1713833628,
            "data": [{"b64_json": base64.b64encode(data).decode()}],
            "usage": usage,
        }
