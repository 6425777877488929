"""Gemini image models (``generateContent``): prompt + photo + optional template images, or a prompt alone.

Wire facts are in ``reference/providers.md`` §1. One :meth:`GeminiDriver.process`
call makes one request; retrying retryable failures (``NO_IMAGE``, 5xx,
network) within the deadline is the ingest service's job.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import orjson
import pybase64
import requests

from photochanger.providers import base, transport
from photochanger.providers.base import CallContext, FailureKind, ProviderError, ProviderJob, ProviderResult
from photochanger.providers.transport import as_dict, as_list

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
MODELS = [
    "gemini-2.5-flash-image",
    "gemini-3-pro-image-preview",
    "gemini-3.1-flash-image-preview",
]
ASPECT_RATIOS = [
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
]
IMAGE_SIZES = ["1K", "2K", "4K"]
#: Google's inline limit is 20 MB for the whole request; keep room for JSON and text.
MAX_REQUEST_BYTES = 19_000_000
#: Finish/block reasons that mean moderation refused: retrying cannot help.
BLOCKED_REASONS = frozenset(
    {
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "SAFETY",
        "BLOCKLIST",
        "SPII",
    }
)


_IMAGE_SIZE = {
    "type": "string",
    "enum": IMAGE_SIZES,
    "default": "1K",
    "title": "Размер результата",
    "description": "Только для gemini-3-pro; другим моделям не передаётся",
}


def supports_image_size(model: str) -> bool:
    """``imageSize`` is documented for 3-pro only; sending it to 2.5 answers 400."""
    return model.startswith("gemini-3") and "-pro-" in model


def _get(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    """Responses are camelCase, but both spellings are parsed defensively."""
    return obj.get(camel, obj.get(snake))


class GeminiDriver(transport.HttpDriver):
    """Edits the booth photo with a Gemini image model following the slot prompt."""

    name = "gemini"
    title = "Google Gemini (генерация изображений)"
    #: 3-pro and 3.1-flash take up to 14 input images, the photo included
    max_templates = 13
    operations: ClassVar[Mapping[str, str]] = {
        "image_edit": "Редактирование по промпту",
        base.TEXT_TO_IMAGE: "Картинка по промпту (фото гостя не используется)",
    }
    text_to_image_operations = frozenset({base.TEXT_TO_IMAGE})
    default_base_url = DEFAULT_BASE_URL
    settings_schemas: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "image_edit": base.slot_settings_schema(
            {
                "prompt": {
                    **base.PROMPT_SETTING,
                    "description": "Фото гостя — «Изображение №1», шаблоны — №2, №3 … по порядку",
                },
                "model": {
                    "type": "string",
                    "enum": MODELS,
                    "default": MODELS[0],
                    "title": "Модель",
                },
                "aspect_ratio": {
                    "type": "string",
                    "enum": ["auto", *ASPECT_RATIOS],
                    "default": "auto",
                    "title": "Соотношение сторон",
                    "description": "auto — как у фото гостя",
                },
                "image_size": _IMAGE_SIZE,
            },
            required=["prompt"],
        ),
        base.TEXT_TO_IMAGE: base.slot_settings_schema(
            {
                "prompt": {
                    **base.PROMPT_SETTING,
                    "description": "Шаблоны слота, если есть, — «Изображение №1», №2 … по порядку",
                },
                "model": {"type": "string", "enum": MODELS, "default": MODELS[0], "title": "Модель"},
                "aspect_ratio": {
                    "type": "string",
                    "enum": ASPECT_RATIOS,
                    "default": "2:3",
                    "title": "Соотношение сторон",
                    "description": "2:3 — как у печати 10×15",
                },
                "image_size": _IMAGE_SIZE,
            },
            required=["prompt"],
        ),
    }

    def photo_box(self, settings: Mapping[str, Any]) -> tuple[int, int]:
        """The longest-side range inputs are shrunk into (see :meth:`input_floor`)."""
        side = self.config.max_input_side
        return side, min(self.input_floor(settings, self.model_of(settings)), side)

    def prepare(self, job: ProviderJob) -> ProviderJob:
        """Shrink the photo and templates for this slot's model (see :meth:`photo_box`).

        :meth:`build_request` shrinks again only if the request is still over
        Google's limit; for inputs already within ``max_input_side`` that is a
        header read.
        """
        side, floor = self.photo_box(job.settings)
        return transport.shrink_inputs(job, side, floor, "gemini")

    @staticmethod
    def model(job: ProviderJob) -> str:
        return GeminiDriver.model_of(job.settings)

    @staticmethod
    def model_of(settings: Mapping[str, Any]) -> str:
        return str(settings.get("model") or MODELS[0])

    def process(self, job: ProviderJob, ctx: CallContext) -> ProviderResult:
        key = self.api_key(job)
        if job.operation not in self.operations:
            raise ProviderError(
                FailureKind.NOT_CONFIGURED,
                f"gemini: unknown operation {job.operation!r}",
            )
        if not job.prompt.strip():
            raise ProviderError(FailureKind.NOT_CONFIGURED, "gemini: the slot has no prompt")
        model = self.model(job)
        body = self.build_request(job, model)
        resp = transport.send(
            ctx,
            "POST",
            f"{self.base_url}/v1beta/models/{model}:generateContent",
            data=body,
            headers={"x-goog-api-key": key, "Content-Type": "application/json"},
            max_bytes=self.config.max_answer_bytes,
        )
        if resp.status_code != 200:
            raise self._http_error(resp, model)
        try:
            # orjson: the answer is ~1.7 MB of JSON around one base64 string;
            # parsed from the bytes, without requests' decode to str first.
            payload = orjson.loads(resp.content)
        except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
            raise ProviderError(
                FailureKind.BAD_RESPONSE,
                "gemini: 200 with a non-JSON body",
                retryable=True,
            ) from exc
        return self.parse_response(as_dict(payload))

    # -- request ---------------------------------------------------------------

    def build_request(self, job: ProviderJob, model: str) -> bytes:
        """JSON body: prompt, then the photo, then templates in slot order.

        Text-to-image sends no photo: the prompt alone (with the slot's
        templates, if any). The order is part of the contract: a prompt may say «Изображение №2».
        Images are downscaled into :meth:`photo_box` and, if the request is
        still over Google's 20 MB limit, further until it fits.

        The body is assembled around the base64 bytes instead of passing
        megabytes of base64 text through ``json.dumps``: that serialisation
        was the biggest CPU item of an ingest (about a fifth of it). Every
        other value still goes through ``json.dumps``; the base64 alphabet
        needs no JSON escaping.
        """
        images = (
            (job.guest_photo("gemini"), *job.templates) if self.uses_photo(job.operation) else job.templates
        )
        config = json.dumps(self._generation_config(job.settings, model), ensure_ascii=False).encode()
        head = (
            b'{"contents":[{"role":"user","parts":['
            + json.dumps({"text": job.prompt}, ensure_ascii=False).encode()
        )
        side, floor = self.photo_box(job.settings)  # what prepare() used: a header read each
        while True:
            chunks = [head]
            for image in images:
                mime, encoded = self._inline(image, side, floor)
                chunks += [
                    b',{"inlineData":{"mimeType":',
                    json.dumps(mime).encode(),
                    b',"data":"',
                    encoded,
                    b'"}}',
                ]
            chunks.append(b']}],"generationConfig":' + config + b"}")
            body = b"".join(chunks)
            del chunks  # the parts are copied into the body; don't hold them twice
            if len(body) <= MAX_REQUEST_BYTES:
                return body
            if side <= 512:
                raise ProviderError(
                    FailureKind.NOT_CONFIGURED,
                    f"gemini: request of {len(body)} bytes exceeds the 20 MB limit (too many templates?)",
                )
            side = side * 3 // 4
            floor = side

    def input_floor(self, settings: Mapping[str, Any], model: str) -> int:
        """Smallest longest side of an input image that serves this slot's result.

        The image models answer at about 1024 px ("1K"); only 3-pro can be asked
        for 2K/4K. More input pixels than the result has buy nothing but CPU,
        upload time and input tokens, so a photo may be sent anywhere between
        ``min_input_side`` and ``max_input_side``: that range lets JPEG photos be
        decoded directly at 1/2, 1/4 or 1/8 scale with no resampling pass.
        """
        size = str(settings.get("image_size") or "1K")
        if supports_image_size(model) and size != "1K":
            return self.config.max_input_side
        return self.config.min_input_side

    @classmethod
    def _inline(cls, image: base.ImageInput, max_side: int, min_side: int) -> tuple[str, bytes]:
        """``(mime, base64 bytes)`` of one image, shrunk for the request."""
        data, mime = transport.shrunk(image, max_side, min_side, "gemini")
        return mime, pybase64.b64encode(data)

    @staticmethod
    def _generation_config(settings: Mapping[str, Any], model: str) -> dict[str, Any]:
        image_config: dict[str, str] = {}
        ratio = settings.get("aspect_ratio") or "auto"
        if ratio != "auto":
            image_config["aspectRatio"] = str(ratio)
        if supports_image_size(model) and settings.get("image_size"):
            image_config["imageSize"] = str(settings["image_size"])
        # No responseMimeType: image models reject it; the output format is read from the answer.
        config: dict[str, Any] = {"responseModalities": ["IMAGE"]}
        if image_config:
            config["imageConfig"] = image_config
        return config

    # -- response --------------------------------------------------------------

    @staticmethod
    def _parts(payload: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        for candidate in as_list(payload.get("candidates")):
            content = as_dict(as_dict(candidate).get("content"))
            for part in as_list(content.get("parts")):
                if isinstance(part, dict):
                    yield part

    def parse_response(self, payload: Mapping[str, Any]) -> ProviderResult:
        """Pick the final image from a 200 answer or raise the matching typed error."""
        feedback = as_dict(_get(payload, "promptFeedback", "prompt_feedback"))
        block = _get(feedback, "blockReason", "block_reason")
        if block:
            raise ProviderError(FailureKind.BLOCKED, f"gemini: prompt blocked ({block})")

        images = [
            as_dict(_get(part, "inlineData", "inline_data"))
            for part in self._parts(payload)
            if _get(part, "inlineData", "inline_data") and not part.get("thought")
        ]
        if images:
            # 3-pro may send interim "thought" drafts first; the last real image is the answer.
            try:
                data = pybase64.b64decode(images[-1].get("data") or "", validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ProviderError(
                    FailureKind.BAD_RESPONSE,
                    "gemini: image data is not valid base64",
                    retryable=True,
                ) from exc
            return transport.checked_image(data, "gemini")

        candidates = [as_dict(c) for c in as_list(payload.get("candidates"))]
        reasons = [str(_get(c, "finishReason", "finish_reason") or "") for c in candidates]
        blocked = [r for r in reasons if r in BLOCKED_REASONS]
        if blocked:
            raise ProviderError(FailureKind.BLOCKED, f"gemini: image blocked ({blocked[0]})")
        text = " ".join(
            str(p["text"]) for p in self._parts(payload) if p.get("text") and not p.get("thought")
        )
        detail = f"gemini: no image in the answer (finishReason={','.join(reasons) or 'none'})"
        if text:
            detail += f"; model said: {text[:200]}"
        # The production NO_IMAGE case: intermittent, and the next attempt usually works.
        raise ProviderError(FailureKind.BAD_RESPONSE, detail, retryable=True)

    @staticmethod
    def _http_error(resp: requests.Response, model: str) -> ProviderError:
        status = resp.status_code
        error = as_dict(transport.error_body(resp).get("error"))
        rpc_status = str(error.get("status") or "")
        message = str(error.get("message") or resp.text[:200])
        details = [as_dict(d) for d in as_list(error.get("details"))]
        reasons = {d.get("reason") for d in details}
        what = f"gemini: HTTP {status} {rpc_status}: {message}"

        if status == 400 and "API_KEY_INVALID" in reasons:
            return ProviderError(
                FailureKind.NOT_CONFIGURED,
                f"gemini: the API key is invalid ({message})",
            )
        if status in (401, 403) or (status == 400 and rpc_status == "FAILED_PRECONDITION"):
            # 403: missing, leaked or suspended key; FAILED_PRECONDITION: billing/region.
            return ProviderError(FailureKind.NOT_CONFIGURED, what)
        if status == 404:
            return ProviderError(
                FailureKind.BAD_RESPONSE,
                f"gemini: model {model!r} is unknown or retired — choose another model ({message})",
            )
        if status == 429:
            delays = [transport.parse_seconds(d.get("retryDelay")) for d in details if "retryDelay" in d]
            retry_after = next((d for d in delays if d is not None), None)
            if retry_after is None:
                retry_after = transport.parse_seconds(resp.headers.get("Retry-After"))
            return ProviderError(FailureKind.QUOTA, what, retry_after=retry_after)
        if status >= 500:
            return ProviderError(FailureKind.PROVIDER_5XX, what, retryable=True)
        return ProviderError(FailureKind.BAD_RESPONSE, what)
