"""Mock of Gemini ``generateContent`` as a real HTTP server (wire facts: reference/providers.md §1).

Usage::

    from tests.support.mock_gemini import MockGemini, inline_images
    from tests.support.mockserver import step

    with MockGemini(api_key="k-1") as gemini:          # or MockGemini() to accept any key
        app.config["GEMINI_API_BASE"] = gemini.url      # http://127.0.0.1:<port>
        gemini.enqueue("no_image", "no_image", "success")  # then `default` ("success") forever
        gemini.enqueue(step("success", snake_case=True, text_before="Вот", thoughts=2))
        ...
        req = gemini.generate_requests[-1]              # RecordedRequest: path, headers, json
        assert req.headers["x-goog-api-key"] == "k-1"
        mime, data = inline_images(req)[0]              # the photo, decoded

Constructor: ``MockGemini(*, api_key=None, models=MODELS, default="success",
hang_seconds=60.0)``. ``api_key`` set → any other key answers 400 API_KEY_INVALID;
a missing ``x-goog-api-key`` always answers 403. Unknown model → 404.

Every request is validated strictly *before* a step is consumed, like Google
does: unknown field names (either spelling, ``inline_data``/``inlineData``)
→ 400 INVALID_ARGUMENT "Unknown name ...", undecodable images, bad
``aspectRatio``/``responseModalities``, ``imageSize`` or an image
``responseMimeType`` sent to a 2.5 model, a body over 20 MB. Invalid requests
are still recorded in ``requests``.

Behaviours (one consumed per valid request; options in brackets):

- ``success`` [snake_case=False, text_before=None, text_after=None, thoughts=0,
  color=(0,160,90), size=(64,48), fmt="PNG"] — image answer (a text-only request, i.e.
  text-to-image, gets the asked ``aspectRatio``, 1:1 without one, 96 px on the long side); ``thoughts`` draft
  images (red, ``"thought": true``) come first; ``final=False`` sends only the drafts;
  ``earlier_images`` non-thought images (yellow) precede the final one.
- ``no_image`` / ``image_other`` — 200, candidate ``finishReason`` NO_IMAGE /
  IMAGE_OTHER and no ``content``.
- ``text_only`` [text] — 200, STOP with only a text part.
- ``blocked_prompt`` [reason="SAFETY"] — 200, only ``promptFeedback.blockReason``.
- ``image_safety`` [reason="IMAGE_SAFETY"] — 200, blocked candidate, no content.
- ``quota`` [retry_delay="26s"] — 429 RESOURCE_EXHAUSTED with RetryInfo.
- ``invalid_key`` — 400 INVALID_ARGUMENT, ``details[].reason`` API_KEY_INVALID.
- ``permission_denied`` — 403; ``failed_precondition`` — 400 FAILED_PRECONDITION.
- ``model_not_found`` — 404 NOT_FOUND.
- ``internal`` — 500; ``overloaded`` — 503 "The model is overloaded..."; ``deadline_exceeded`` — 504.
- ``not_json`` — 200 HTML; ``bad_base64`` / ``not_an_image`` / ``truncated_image``
  — 200 with broken image data.
- ``reset`` — TCP RST, no answer; ``disconnect`` — closes without an answer.
- ``hang`` [seconds=hang_seconds] — waits (released at once by ``stop()``), then answers ``success``.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from typing import Any, ClassVar

from PIL import Image

from .mockserver import (
    MockServer,
    RecordedRequest,
    Reply,
    Step,
    json_reply,
)

MODELS = (
    "gemini-2.5-flash-image",
    "gemini-3-pro-image-preview",
    "gemini-3.1-flash-image-preview",
)
ASPECT_RATIOS = {
    "1:1",
    "2:3",
    "3:2",
    "3:4",
    "4:3",
    "4:5",
    "5:4",
    "9:16",
    "16:9",
    "21:9",
}
MAX_BODY = 20 * 1024 * 1024
DRAFT_COLOR = (220, 30, 30)
EARLIER_COLOR = (250, 250, 0)

# Request schema in proto (snake_case) names; a field may arrive in either spelling.
# dict = message, [x] = repeated x, None = scalar or a message this mock does not inspect.
_BLOB: dict[str, Any] = {"mime_type": None, "data": None}
_PART: dict[str, Any] = {
    "text": None,
    "inline_data": _BLOB,
    "file_data": {"mime_type": None, "file_uri": None},
    "thought": None,
    "thought_signature": None,
    "function_call": None,
    "function_response": None,
    "executable_code": None,
    "code_execution_result": None,
    "video_metadata": None,
    "media_resolution": None,
}
_CONTENT: dict[str, Any] = {"role": None, "parts": [_PART]}
_GENERATION_CONFIG: dict[str, Any] = {
    name: None
    for name in [
        "stop_sequences",
        "response_mime_type",
        "response_schema",
        "response_json_schema",
        "candidate_count",
        "max_output_tokens",
        "temperature",
        "top_p",
        "top_k",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_logprobs",
        "logprobs",
        "response_modalities",
        "speech_config",
        "thinking_config",
        "media_resolution",
        "enable_enhanced_civic_answers",
    ]
}
_GENERATION_CONFIG["image_config"] = {"aspect_ratio": None, "image_size": None}
_REQUEST: dict[str, Any] = {
    "contents": [_CONTENT],
    "generation_config": _GENERATION_CONFIG,
    "system_instruction": _CONTENT,
    "safety_settings": None,
    "tools": None,
    "tool_config": None,
    "cached_content": None,
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _unknown_fields(value: Any, schema: Any, path: str) -> list[str]:
    """Google-style "Unknown name" violations for ``value`` against ``schema``."""
    if isinstance(schema, list):
        items = value if isinstance(value, list) else []
        return [v for i, item in enumerate(items) for v in _unknown_fields(item, schema[0], f"{path}[{i}]")]
    if not isinstance(schema, dict) or not isinstance(value, dict):
        return []
    found = []
    for key, item in value.items():
        sub = _snake(key)
        if sub not in schema:
            where = f" at '{path}'" if path else ""
            found.append(f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.')
        else:
            found += _unknown_fields(item, schema[sub], f"{path}.{sub}" if path else sub)
    return found


def _field(obj: Any, snake: str) -> Any:
    if not isinstance(obj, dict):
        return None
    parts = snake.split("_")
    camel = parts[0] + "".join(p.title() for p in parts[1:])
    return obj.get(camel, obj.get(snake))


def _parts(body: Any) -> list[dict[str, Any]]:
    contents = _field(body, "contents") or []
    return [p for c in contents for p in (_field(c, "parts") or []) if isinstance(p, dict)]


def inline_images(request: RecordedRequest) -> list[tuple[str, bytes]]:
    """(mime, decoded bytes) of every inline image the request carried, in part order."""
    found = []
    for part in _parts(request.json):
        blob = _field(part, "inline_data")
        if blob:
            found.append((str(_field(blob, "mime_type")), base64.b64decode(_field(blob, "data"))))
    return found


def part_kinds(request: RecordedRequest) -> list[str]:
    """``["text", "image", "image"]`` — the order of the parts sent."""
    return ["image" if _field(p, "inline_data") else "text" for p in _parts(request.json)]


def _text_to_image_size(body: Any) -> tuple[int, int]:
    """A small picture of the request's ``aspectRatio`` (1:1 when it names none)."""
    config = _field(body, "generation_config") or {}
    ratio = str(_field(_field(config, "image_config") or {}, "aspect_ratio") or "1:1")
    width, height = (int(n) for n in ratio.split(":"))
    side = 96
    return (side, side * height // width) if width >= height else (side * width // height, side)


def _error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> Reply:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return json_reply(code, {"error": error})


def _image_b64(size: tuple[int, int], color: tuple[int, int, int], fmt: str = "PNG") -> str:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return base64.b64encode(out.getvalue()).decode()


class MockGemini(MockServer):
    """See the module docstring for the behaviours and options."""

    BEHAVIOURS: ClassVar[frozenset[str]] = frozenset(
        [
            "success",
            "no_image",
            "image_other",
            "text_only",
            "blocked_prompt",
            "image_safety",
            "quota",
            "invalid_key",
            "permission_denied",
            "failed_precondition",
            "model_not_found",
            "internal",
            "overloaded",
            "deadline_exceeded",
            "not_json",
            "bad_base64",
            "truncated_image",
            "not_an_image",
            "reset",
            "disconnect",
            "hang",
        ]
    )

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: tuple[str, ...] = MODELS,
        default: str | Step = "success",
        hang_seconds: float = 60.0,
    ) -> None:
        self.api_key = api_key
        self.models = models
        super().__init__(default=default, hang_seconds=hang_seconds)

    @property
    def generate_requests(self) -> list[RecordedRequest]:
        """Received ``generateContent`` calls, oldest first."""
        return [r for r in self.requests if r.path.endswith(":generateContent")]

    def handle(self, request: RecordedRequest) -> Reply | str:
        match = re.fullmatch(r"/v1beta/models/([^/:]+):generateContent", request.path)
        if request.method != "POST" or not match:
            return _error(404, "NOT_FOUND", f"Unknown path {request.path}")
        model = match.group(1)
        key = request.headers.get("x-goog-api-key")
        if not key:
            return _error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        if self.api_key is not None and key != self.api_key:
            return self._reply("invalid_key", {})
        if model not in self.models:
            return self._reply("model_not_found", {"model": model})
        problem = self.validate(request, model)
        if problem:
            return _error(
                400,
                "INVALID_ARGUMENT",
                problem,
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"description": problem}],
                    }
                ],
            )
        current = self.next_step()
        opts = {"model": model, **current.options}
        if not inline_images(request):
            # Text-to-image: with no input to follow, the picture takes the asked aspect (1:1 without one).
            opts.setdefault("size", _text_to_image_size(request.json))
        return self._reply(current.name, opts)

    def validate(self, request: RecordedRequest, model: str) -> str | None:
        """The first reason Google would reject this body with 400, or ``None``."""
        if len(request.body) > MAX_BODY:
            return f"Request payload size exceeds the limit: {MAX_BODY} bytes."
        body = request.json
        if not isinstance(body, dict):
            return "Invalid JSON payload received. Expected an object."
        unknown = _unknown_fields(body, _REQUEST, "")
        if unknown:
            return unknown[0]
        parts = _parts(body)
        if not parts:
            return "* GenerateContentRequest.contents: contents is not specified"
        for part in parts:
            blob = _field(part, "inline_data")
            if blob and not self._readable_image(blob):
                return "Unable to process input image. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
        config = _field(body, "generation_config") or {}
        modalities = _field(config, "response_modalities") or []
        if any(m not in ("TEXT", "IMAGE") for m in modalities):
            return (
                f"* GenerateContentRequest.generation_config.response_modalities: invalid value {modalities}"
            )
        image_config = _field(config, "image_config") or {}
        ratio = _field(image_config, "aspect_ratio")
        if ratio is not None and ratio not in ASPECT_RATIOS:
            return (
                f"* GenerateContentRequest.generation_config.image_config.aspect_ratio: unsupported {ratio!r}"
            )
        size = _field(image_config, "image_size")
        # The earlier deployment saw 400 for imageSize or an image MIME type sent to 2.5.
        if size is not None and (model.startswith("gemini-2.5") or size not in ("1K", "2K", "4K")):
            return (
                "* GenerateContentRequest.generation_config.image_config.image_size: "
                f"{size!r} is not supported for {model}"
            )
        mime = str(_field(config, "response_mime_type") or "")
        if mime.startswith("image/"):
            return (
                "* GenerateContentRequest.generation_config.response_mime_type: "
                f"allowed mimetypes are text/plain, application/json ... got {mime}"
            )
        return None

    @staticmethod
    def _readable_image(blob: dict[str, Any]) -> bool:
        if _field(blob, "mime_type") not in (
            "image/jpeg",
            "image/png",
            "image/webp",
            "image/heic",
            "image/heif",
        ):
            return False
        try:
            with Image.open(io.BytesIO(base64.b64decode(_field(blob, "data") or "", validate=True))) as im:
                im.verify()
        except (binascii.Error, ValueError, OSError):
            return False
        return True

    def _reply(self, name: str, opts: dict[str, Any]) -> Reply | str:
        model = opts.get("model", MODELS[0])
        meta = {
            "usageMetadata": {
                "promptTokenCount": 264,
                "candidatesTokenCount": 1290,
                "totalTokenCount": 1554,
            },
            "modelVersion": model,
            "responseId": "mock-response-id",
        }
        if name == "success":
            return json_reply(200, {"candidates": [self._success_candidate(opts)], **meta})
        if name in ("no_image", "image_other", "image_safety"):
            reason = opts.get("reason") or {
                "no_image": "NO_IMAGE",
                "image_other": "IMAGE_OTHER",
            }.get(name, "IMAGE_SAFETY")
            return json_reply(200, {"candidates": [{"finishReason": reason, "index": 0}], **meta})
        if name == "text_only":
            text = opts.get("text", "I can't edit this image, but here is a description.")
            content = {"role": "model", "parts": [{"text": text}]}
            return json_reply(
                200,
                {
                    "candidates": [{"content": content, "finishReason": "STOP", "index": 0}],
                    **meta,
                },
            )
        if name == "blocked_prompt":
            feedback = {
                "blockReason": opts.get("reason", "SAFETY"),
                "safetyRatings": [
                    {
                        "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT",
                        "probability": "HIGH",
                    }
                ],
            }
            return json_reply(200, {"promptFeedback": feedback, **meta})
        if name == "quota":
            return _error(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {
                                "quotaMetric": "generativelanguage.googleapis.com/"
                                "generate_content_free_tier_requests"
                            }
                        ],
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.Help",
                        "links": [
                            {
                                "description": "Learn more",
                                "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                            }
                        ],
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": opts.get("retry_delay", "26s"),
                    },
                ],
            )
        if name == "invalid_key":
            return _error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US",
                        "message": "API key not valid. Please pass a valid API key.",
                    },
                ],
            )
        if name == "permission_denied":
            return _error(
                403,
                "PERMISSION_DENIED",
                "Your API key was reported as leaked. Please use another API key.",
            )
        if name == "failed_precondition":
            return _error(
                400,
                "FAILED_PRECONDITION",
                "User location is not supported for the API use.",
            )
        if name == "model_not_found":
            return _error(
                404,
                "NOT_FOUND",
                f"models/{model} is not found for API version v1beta, "
                "or is not supported for generateContent.",
            )
        if name == "internal":
            return _error(
                500,
                "INTERNAL",
                "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
            )
        if name == "overloaded":
            return _error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
        if name == "deadline_exceeded":
            return _error(
                504,
                "DEADLINE_EXCEEDED",
                "Deadline expired before operation could complete.",
            )
        if name == "not_json":
            return Reply(200, b"<html><body>Bad gateway</body></html>", "text/html")
        if name in ("bad_base64", "truncated_image", "not_an_image", "truncated_image"):
            broken = {
                "bad_base64": "!!not base64!!",
                "not_an_image": base64.b64encode(b"definitely not a png").decode(),
                # Right magic bytes, missing body: only a structural check notices.
                "truncated_image": _image_b64((64, 48), (0, 160, 90))[:120],
            }
            data = broken[name]
            part = {"inlineData": {"mimeType": "image/png", "data": data}}
            content = {"role": "model", "parts": [part]}
            return json_reply(
                200,
                {
                    "candidates": [{"content": content, "finishReason": "STOP", "index": 0}],
                    **meta,
                },
            )
        answer = self.connection_answer(name, opts, lambda: self._reply("success", opts))
        if answer is None:
            raise AssertionError(name)
        return answer

    @staticmethod
    def _success_candidate(opts: dict[str, Any]) -> dict[str, Any]:
        snake = bool(opts.get("snake_case"))
        blob_key, mime_key = ("inline_data", "mime_type") if snake else ("inlineData", "mimeType")
        width, height = opts.get("size", (64, 48))
        size = (int(width), int(height))
        fmt = str(opts.get("fmt", "PNG"))

        def image_part(color: tuple[int, int, int], fmt: str) -> dict[str, Any]:
            mime = "image/jpeg" if fmt == "JPEG" else f"image/{fmt.lower()}"
            return {blob_key: {mime_key: mime, "data": _image_b64(size, color, fmt)}}

        parts: list[dict[str, Any]] = []
        if opts.get("text_before"):
            parts.append({"text": opts["text_before"]})
        for _ in range(int(opts.get("thoughts", 0))):
            parts.append({**image_part(DRAFT_COLOR, "PNG"), "thought": True})
        for _ in range(int(opts.get("earlier_images", 0))):
            parts.append(image_part(EARLIER_COLOR, "PNG"))
        if not opts.get("final", True):  # generation cut after the drafts
            return {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        red, green, blue = opts.get("color", (0, 160, 90))
        final = image_part((int(red), int(green), int(blue)), fmt)
        parts.append({**final, "thoughtSignature": "c2lnbmF0dXJl"})
        if opts.get("text_after"):
            parts.append({"text": opts["text_after"]})
        return {
            "content": {"role": "model", "parts": parts},
            "finishReason": "STOP",
            "index": 0,
        }
