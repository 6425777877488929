"""OpenAI GPT Image (``POST /v1/images/edits``): the photo and templates in, one image out.

Wire facts are in ``reference/providers.md`` §6. One :meth:`GptImageDriver.process`
call makes one request; retrying rate limits and 5xx within the deadline is the
ingest service's job. GPT Image models always answer base64 (``b64_json``).
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from typing import Any, ClassVar

import pybase64
import requests

from photochanger.media.images import EXT_BY_MIME
from photochanger.providers import base, transport
from photochanger.providers.base import CallContext, FailureKind, ProviderError, ProviderJob, ProviderResult
from photochanger.providers.transport import as_dict, as_list

DEFAULT_BASE_URL = "https://api.openai.com"
MODELS = ["gpt-image-1", "gpt-image-1.5", "gpt-image-1-mini"]
SIZES = ["auto", "1024x1024", "1536x1024", "1024x1536"]
QUALITIES = ["auto", "low", "medium", "high"]
BACKGROUNDS = ["auto", "opaque", "transparent"]
#: ``input_fidelity``: "auto" sends nothing (gpt-image-1-mini rejects the field).
FIDELITIES = ["auto", "high", "low"]
#: The API takes up to 16 images per edit: the photo and 15 templates.
MAX_IMAGES = 16
#: 400 codes that mean billing, not the request: quota, like 429 insufficient_quota.
BILLING_CODES = frozenset({"billing_hard_limit_reached", "insufficient_quota"})


class GptImageDriver(transport.HttpDriver):
    """Edits the booth photo with an OpenAI GPT Image model following the slot prompt."""

    name = "gpt_image"
    title = "OpenAI GPT Image"
    max_templates = MAX_IMAGES - 1
    operations: ClassVar[Mapping[str, str]] = {"image_edit": "Редактирование по промпту"}
    default_base_url = DEFAULT_BASE_URL
    settings_schemas: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "image_edit": base.slot_settings_schema(
            {
                "prompt": {
                    **base.PROMPT_SETTING,
                    "maxLength": 32000,
                    "description": "Фото гостя — первое изображение, шаблоны — следующие по порядку",
                },
                "model": {"type": "string", "enum": MODELS, "default": MODELS[0], "title": "Модель"},
                "size": {"type": "string", "enum": SIZES, "default": "auto", "title": "Размер результата"},
                "quality": {
                    "type": "string",
                    "enum": QUALITIES,
                    "default": "auto",
                    "title": "Качество",
                    "description": "high — дольше (до 1,5 минут) и дороже",
                },
                "background": {"type": "string", "enum": BACKGROUNDS, "default": "auto", "title": "Фон"},
                "input_fidelity": {
                    "type": "string",
                    "enum": FIDELITIES,
                    "default": "auto",
                    "title": "Сохранение лиц",
                    "description": "high — точнее сохраняет черты лица (не для gpt-image-1-mini)",
                },
            },
            required=["prompt"],
        )
    }

    def photo_box(self, settings: Mapping[str, Any]) -> tuple[int, int]:
        """Results are at most 1536 px: a bigger photo only costs upload time."""
        return self.config.max_input_side, min(self.config.min_input_side, self.config.max_input_side)

    def prepare(self, job: ProviderJob) -> ProviderJob:
        return transport.shrink_inputs(job, *self.photo_box(job.settings), "gpt_image")

    def process(self, job: ProviderJob, ctx: CallContext) -> ProviderResult:
        key = self.api_key(job)
        if job.operation not in self.operations:
            raise ProviderError(FailureKind.NOT_CONFIGURED, f"gpt_image: unknown operation {job.operation!r}")
        resp = transport.send(
            ctx,
            "POST",
            f"{self.base_url}/v1/images/edits",
            data=self.build_fields(job),
            files=self.build_files(job),
            headers={"Authorization": f"Bearer {key}"},
        )
        if resp.status_code != 200:
            raise self._http_error(resp)
        return self.parse_response(as_dict(transport.json_of(resp, "gpt_image")))

    # -- request ---------------------------------------------------------------

    @staticmethod
    def build_fields(job: ProviderJob) -> list[tuple[str, str]]:
        """Form fields besides the images; ``auto`` values are left to the API's defaults."""
        settings = job.settings
        if not job.prompt.strip():
            raise ProviderError(FailureKind.NOT_CONFIGURED, "gpt_image: the slot has no prompt")
        fields = [("prompt", job.prompt), ("model", str(settings.get("model") or MODELS[0]))]
        for name in ("size", "quality", "background", "input_fidelity"):
            value = str(settings.get(name) or "auto")
            if value != "auto":
                fields.append((name, value))
        # The slot's print format is asked of the API directly instead of converting afterwards.
        fmt = str(settings.get("output_format") or "auto")
        if fmt != "auto":
            if fmt == "jpeg" and settings.get("background") == "transparent":
                raise ProviderError(
                    FailureKind.NOT_CONFIGURED,
                    "gpt_image: a transparent background needs png or webp output",
                )
            fields.append(("output_format", fmt))
        return fields

    @staticmethod
    def build_files(job: ProviderJob) -> list[tuple[str, tuple[str, bytes, str]]]:
        """``image[]`` parts: the photo first, then the templates in slot order."""
        images = (job.guest_photo("gpt_image"), *job.templates)
        return [
            (
                "image[]",
                (f"{image.role}-{n}.{EXT_BY_MIME.get(image.mime, 'jpg')}", image.data, image.mime),
            )
            for n, image in enumerate(images, 1)
        ]

    # -- response --------------------------------------------------------------

    @staticmethod
    def parse_response(payload: Mapping[str, Any]) -> ProviderResult:
        first = as_dict(next(iter(as_list(payload.get("data"))), None))
        encoded = first.get("b64_json")
        if not isinstance(encoded, str) or not encoded:
            raise ProviderError(
                FailureKind.BAD_RESPONSE, "gpt_image: no b64_json in the answer", retryable=True
            )
        try:
            data = pybase64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProviderError(
                FailureKind.BAD_RESPONSE, "gpt_image: b64_json is not valid base64", retryable=True
            ) from exc
        return transport.checked_image(data, "gpt_image")

    @staticmethod
    def _http_error(resp: requests.Response) -> ProviderError:
        status = resp.status_code
        error = as_dict(transport.error_body(resp).get("error"))
        code = str(error.get("code") or "")
        kind = str(error.get("type") or "")
        message = str(error.get("message") or resp.text[:200])
        what = f"gpt_image: HTTP {status} {code or kind}: {message}"

        if code == "moderation_blocked":
            return ProviderError(FailureKind.BLOCKED, what)
        if code in BILLING_CODES or kind == "insufficient_quota":
            # Billing: no retry within a deadline can help.
            return ProviderError(FailureKind.QUOTA, what)
        if status == 404:
            return ProviderError(FailureKind.BAD_RESPONSE, f"{what} — choose another model")
        # 429 rate_limit_exceeded (retried after retry-after); 401 invalid_api_key;
        # 403 e.g. an organisation not verified for the model; 5xx.
        return transport.status_failure(resp, "gpt_image", f"{code or kind}: {message}")
