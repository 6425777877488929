"""FAL queue (``queue.fal.run``): submit the model input, poll, fetch the output, download the image.

Wire facts are in ``reference/providers.md`` §3. FAL fetches its inputs by URL,
so the ingest service publishes the photo and templates as short-lived
``/public/provider-media`` links and sets :attr:`ImageInput.url` before calling.
The ``status_url``/``response_url`` of the submit answer are used as given:
they drop the model's subpath, so building them would break.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pybase64
import requests

from photochanger.providers import base, transport
from photochanger.providers.base import CallContext, FailureKind, ProviderError, ProviderJob, ProviderResult
from photochanger.providers.transport import as_dict, as_list

DEFAULT_BASE_URL = "https://queue.fal.run"
#: ``error_type`` values of request (infrastructure) errors: another attempt may land on a healthy runner.
TRANSIENT_ERROR_TYPES = frozenset(
    {
        "request_timeout",
        "startup_timeout",
        "runner_scheduling_failure",
        "runner_connection_timeout",
        "runner_disconnected",
        "runner_connection_refused",
        "runner_connection_error",
        "runner_incomplete_response",
        "runner_server_error",
        "internal_error",
        "internal_server_error",
        "generation_timeout",
        "downstream_service_unavailable",
    }
)


@dataclass(frozen=True)
class FalModel:
    """How one model takes its input: ``images`` "list" (``image_urls``), "one" (``image_url``) or "none"."""

    images: str
    formats: tuple[str, ...]
    aspect_ratios: tuple[str, ...]


EDIT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9")
MODELS: dict[str, FalModel] = {
    "fal-ai/nano-banana/edit": FalModel("list", ("jpeg", "png", "webp"), EDIT_RATIOS),
    "fal-ai/flux-pro/kontext": FalModel("one", ("jpeg", "png"), EDIT_RATIOS),
    "fal-ai/imagen4/preview": FalModel("none", (), ("1:1", "16:9", "9:16", "3:4", "4:3")),
}
EDIT_MODELS = ["fal-ai/nano-banana/edit", "fal-ai/flux-pro/kontext"]
TEXT_MODELS = ["fal-ai/imagen4/preview"]

_SEED = {"type": "integer", "minimum": 0, "title": "Зерно (seed)", "description": "Пусто — случайное"}


class FalDriver(transport.HttpDriver):
    """Image edits (nano-banana, FLUX Kontext) and text-to-image (Imagen 4) through the FAL queue."""

    name = "fal"
    title = "FAL (nano-banana, FLUX Kontext, Imagen 4)"
    operations: ClassVar[Mapping[str, str]] = {
        "image_edit": "Редактирование фото по промпту",
        base.TEXT_TO_IMAGE: "Картинка по промпту (фото гостя не используется)",
    }
    text_to_image_operations = frozenset({base.TEXT_TO_IMAGE})
    default_base_url = DEFAULT_BASE_URL
    input_urls = True
    #: nano-banana/edit takes several images; FLUX Kontext only the photo
    max_templates = 9
    settings_schemas: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "image_edit": base.slot_settings_schema(
            {
                "prompt": {
                    **base.PROMPT_SETTING,
                    "description": "Фото гостя — первое изображение, шаблоны — следующие",
                },
                "model": {
                    "type": "string",
                    "enum": EDIT_MODELS,
                    "default": EDIT_MODELS[0],
                    "title": "Модель",
                    "description": "FLUX Kontext берёт только фото гостя, без шаблонов",
                },
                "aspect_ratio": {
                    "type": "string",
                    "enum": ["auto", *EDIT_RATIOS],
                    "default": "auto",
                    "title": "Соотношение сторон",
                },
                "seed": _SEED,
            },
            required=["prompt"],
        ),
        base.TEXT_TO_IMAGE: base.slot_settings_schema(
            {
                "prompt": base.PROMPT_SETTING,
                "model": {
                    "type": "string",
                    "enum": TEXT_MODELS,
                    "default": TEXT_MODELS[0],
                    "title": "Модель",
                },
                "aspect_ratio": {
                    "type": "string",
                    "enum": list(MODELS[TEXT_MODELS[0]].aspect_ratios),
                    "default": "3:4",
                    "title": "Соотношение сторон",
                },
                "negative_prompt": {"type": "string", "title": "Негативный промпт"},
                "seed": _SEED,
            },
            required=["prompt"],
        ),
    }

    def process(self, job: ProviderJob, ctx: CallContext) -> ProviderResult:
        key = self.api_key(job)
        model = self.model(job)
        headers = {"Authorization": f"Key {key}"}
        resp = transport.send(
            ctx, "POST", f"{self.base_url}/{model}", json=self.build_input(job, model), headers=headers
        )
        if resp.status_code != 200:
            raise self._http_error(resp)
        queued = as_dict(transport.json_of(resp, "fal submit"))
        status_url, response_url = queued.get("status_url"), queued.get("response_url")
        if not isinstance(status_url, str) or not isinstance(response_url, str):
            raise ProviderError(
                FailureKind.BAD_RESPONSE, "fal: submit answer without status_url", retryable=True
            )

        def probe() -> dict[str, Any] | None:
            answer = transport.send(ctx, "GET", status_url, headers=headers)
            if answer.status_code not in (200, 202):
                raise self._http_error(answer)
            state = as_dict(transport.json_of(answer, "fal status"))
            return state if state.get("status") == "COMPLETED" else None

        done = transport.poll(ctx, self.config.poll_interval, probe)
        resp = transport.send(ctx, "GET", response_url, headers=headers)
        if resp.status_code != 200:
            raise self._http_error(resp)
        return self._image(ctx, as_dict(transport.json_of(resp, "fal result")), done)

    @staticmethod
    def model(job: ProviderJob) -> str:
        if job.operation not in FalDriver.settings_schemas:
            raise ProviderError(FailureKind.NOT_CONFIGURED, f"fal: unknown operation {job.operation!r}")
        allowed = EDIT_MODELS if job.operation == "image_edit" else TEXT_MODELS
        model = str(job.settings.get("model") or allowed[0])
        if model not in allowed:
            raise ProviderError(
                FailureKind.NOT_CONFIGURED, f"fal: model {model!r} does not do {job.operation}"
            )
        return model

    # -- request ---------------------------------------------------------------

    @staticmethod
    def build_input(job: ProviderJob, model: str) -> dict[str, Any]:
        """The model's input JSON: photo first, then templates, all as public links."""
        spec = MODELS[model]
        settings = job.settings
        if not job.prompt.strip():
            raise ProviderError(FailureKind.NOT_CONFIGURED, "fal: the slot has no prompt")
        body: dict[str, Any] = {"prompt": job.prompt}
        if spec.images == "list":
            photo = job.guest_photo("fal")
            body["image_urls"] = [transport.public_url(image, "fal") for image in (photo, *job.templates)]
            body["num_images"] = 1
        elif spec.images == "one":
            body["image_url"] = transport.public_url(job.guest_photo("fal"), "fal")
        else:
            body["num_images"] = 1
            if settings.get("negative_prompt"):
                body["negative_prompt"] = str(settings["negative_prompt"])
        ratio = str(settings.get("aspect_ratio") or "auto")
        if ratio != "auto" and ratio in spec.aspect_ratios:
            body["aspect_ratio"] = ratio
        fmt = str(settings.get("output_format") or "auto")
        if fmt in spec.formats:
            body["output_format"] = fmt
        if settings.get("seed") is not None:
            body["seed"] = int(settings["seed"])
        return body

    # -- response --------------------------------------------------------------

    def _image(self, ctx: CallContext, output: Mapping[str, Any], done: Mapping[str, Any]) -> ProviderResult:
        images = [as_dict(i) for i in as_list(output.get("images"))] or [as_dict(output.get("image"))]
        url = images[0].get("url")
        if not isinstance(url, str) or not url:
            if done.get("error"):
                raise self._failure(0, str(done["error"]), str(done.get("error_type") or ""), set(), False)
            raise ProviderError(FailureKind.BAD_RESPONSE, "fal: the output has no image URL", retryable=True)
        # FLUX models black out what their safety checker flags and say so here.
        if any(flag is True for flag in as_list(output.get("has_nsfw_concepts"))):
            raise ProviderError(FailureKind.BLOCKED, "fal: the result was flagged as NSFW")
        if url.startswith("data:"):  # sync_mode / data URI answers
            try:
                return transport.checked_image(
                    pybase64.b64decode(url.partition(",")[2], validate=True), "fal"
                )
            except (binascii.Error, ValueError) as exc:
                raise ProviderError(
                    FailureKind.BAD_RESPONSE, "fal: data URI is not base64", retryable=True
                ) from exc
        # The CDN needs no key, and it is not sent where it is not needed.
        return transport.download(ctx, url, "fal")

    # -- errors ----------------------------------------------------------------

    def _http_error(self, resp: requests.Response) -> ProviderError:
        """``detail`` is a list of ``{loc,msg,type}`` (model errors) or a string plus ``error_type``."""
        body = transport.error_body(resp)
        detail = body.get("detail")
        items = [as_dict(d) for d in as_list(detail)]
        types = {str(d.get("type") or "") for d in items}
        message = (
            "; ".join(str(d.get("msg") or "") for d in items) if items else str(detail or resp.text[:200])
        )
        error_type = str(body.get("error_type") or resp.headers.get("X-Fal-Error-Type") or "")
        retryable = resp.headers.get("X-Fal-Retryable", "").lower() == "true"
        error = self._failure(resp.status_code, message, error_type, types, retryable)
        if error.kind is FailureKind.QUOTA and resp.status_code == 429:
            error.retry_after = transport.parse_seconds(resp.headers.get("Retry-After"))
        return error

    @staticmethod
    def _failure(
        status: int, message: str, error_type: str, types: set[str], retryable: bool
    ) -> ProviderError:
        what = f"fal: HTTP {status} {error_type or ','.join(sorted(t for t in types if t))}: {message}"
        if "content_policy_violation" in types:
            return ProviderError(FailureKind.BLOCKED, what)
        if status == 403 and "balance" in message.lower():
            # "User is locked. Reason: Exhausted balance": billing, never retried.
            return ProviderError(FailureKind.QUOTA, what)
        if status in (401, 403):
            return ProviderError(FailureKind.NOT_CONFIGURED, what)
        if status == 404:
            return ProviderError(FailureKind.BAD_RESPONSE, f"{what} — unknown model id")
        if status == 429:
            return ProviderError(FailureKind.QUOTA, what, retryable=True)
        if status >= 500 or error_type in TRANSIENT_ERROR_TYPES or types & TRANSIENT_ERROR_TYPES:
            return ProviderError(FailureKind.PROVIDER_5XX, what, retryable=True)
        return ProviderError(FailureKind.BAD_RESPONSE, what, retryable=retryable)
