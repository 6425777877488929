"""Turbotext (``/api_ai/<method>``): queue a job with public image URLs, poll, download.

Wire facts are in ``reference/providers.md`` §2. Turbotext fetches its inputs
by URL, so the ingest service publishes the photo and templates as short-lived
``/public/provider-media`` links and sets :attr:`ImageInput.url` before calling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

import requests

from photochanger.providers import base, transport
from photochanger.providers.base import CallContext, FailureKind, ProviderError, ProviderJob, ProviderResult
from photochanger.providers.transport import as_dict

DEFAULT_BASE_URL = "https://www.turbotext.ru"
#: operation id -> Turbotext method name
METHODS = {
    "style_transfer": "mix_images",
    "identity_transfer": "deepfake_photo",
    "image_edit": "generate_image2image",
}
#: Words in an error text that mean "busy, try later" rather than "your request is wrong".
TRANSIENT_WORDS = (
    "overload",
    "перегруж",
    "try again later",
    "попробуйте позже",
    "busy",
    "занят",
)


class TurbotextDriver(transport.HttpDriver):
    """Style mix, face swap and image-to-image through the Turbotext queue API."""

    name = "turbotext"
    title = "Turbotext"
    operations: ClassVar[Mapping[str, str]] = {
        "style_transfer": "Микс фото (перенос стиля шаблона)",
        "identity_transfer": "Замена лица (лицо гостя на шаблон)",
        "image_edit": "Изменение фото по промпту",
    }
    default_base_url = DEFAULT_BASE_URL
    input_urls = True
    max_templates = 1
    settings_schemas: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "style_transfer": base.slot_settings_schema(
            {"prompt": {"type": "string", "title": "Подсказка (необязательно)"}}
        ),
        "identity_transfer": base.slot_settings_schema(
            {
                "face_restore": {
                    "type": "boolean",
                    "default": True,
                    "title": "Восстановление лица",
                }
            }
        ),
        "image_edit": base.slot_settings_schema(
            {
                "prompt": base.PROMPT_SETTING,
                "strength": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 80,
                    "default": 40,
                    "title": "Сила изменения",
                },
                "scale": {
                    "type": "number",
                    "minimum": 0.1,
                    "maximum": 20,
                    "default": 7.5,
                    "title": "Следование промпту",
                },
                "seed": {"type": "integer", "minimum": 0, "title": "Зерно (seed)"},
                "negative_prompt": {"type": "string", "title": "Негативный промпт"},
                "original_language": {
                    "type": "string",
                    "enum": ["ru", "en"],
                    "default": "ru",
                    "title": "Язык промпта",
                },
            },
            required=["prompt"],
        ),
    }

    def process(self, job: ProviderJob, ctx: CallContext) -> ProviderResult:
        key = self.api_key(job)
        method = METHODS.get(job.operation)
        if method is None:
            raise ProviderError(
                FailureKind.NOT_CONFIGURED,
                f"turbotext: unknown operation {job.operation!r}",
            )
        try:
            fields = self.build_fields(job)
        except (TypeError, ValueError) as exc:  # e.g. a non-numeric strength saved by hand
            raise ProviderError(FailureKind.NOT_CONFIGURED, f"turbotext: bad slot settings: {exc}") from exc
        url = f"{self.base_url}/api_ai/{method}"
        headers = {"Authorization": f"Bearer {key}"}

        created = self._call(ctx, url, headers, {"do": "create_queue", **fields})
        queue_id = created.get("queueid")
        if not created.get("success") or queue_id in (None, ""):
            raise self._failure(created, "create_queue")
        result = self._poll(ctx, url, headers, queue_id)
        return transport.download(
            ctx, self._result_url(result), "turbotext", max_bytes=self.config.max_answer_bytes
        )

    def build_fields(self, job: ProviderJob) -> dict[str, str]:
        """Form fields of the method; note mix_images and deepfake_photo swap the URL roles."""
        settings = job.settings
        photo = transport.public_url(job.guest_photo("turbotext"), "turbotext")
        if job.operation == "image_edit":
            if not job.prompt.strip():
                raise ProviderError(FailureKind.NOT_CONFIGURED, "turbotext: the slot has no prompt")
            fields = {
                "url": photo,
                "content": job.prompt,
                "strength": str(int(settings.get("strength", 40))),
                "scale": str(float(settings.get("scale", 7.5))),
                "original_language": str(settings.get("original_language") or "ru"),
            }
            if settings.get("seed") is not None:
                fields["seed"] = str(int(settings["seed"]))
            if settings.get("negative_prompt"):
                fields["negative_prompt"] = str(settings["negative_prompt"])
            return fields

        if not job.templates:
            raise ProviderError(
                FailureKind.NOT_CONFIGURED,
                f"turbotext: {self.operations[job.operation]} needs a template image in the slot",
            )
        template = transport.public_url(job.templates[0], "turbotext")
        if job.operation == "style_transfer":
            # The guest photo is processed; the template lends its style.
            fields = {"url_image_target": photo, "url": template}
            if job.prompt.strip():
                fields["content"] = job.prompt
            return fields
        # deepfake_photo: the template's face is replaced by the guest's.
        face_restore = settings.get("face_restore", True)
        return {
            "url": template,
            "url_image_target": photo,
            "face_restore": "True" if face_restore else "False",
        }

    # -- wire ------------------------------------------------------------------

    def _call(
        self,
        ctx: CallContext,
        url: str,
        headers: Mapping[str, str],
        form: Mapping[str, Any],
    ) -> dict[str, Any]:
        resp = transport.send(
            ctx, "POST", url, data=dict(form), headers=dict(headers), max_bytes=self.config.max_answer_bytes
        )
        if resp.status_code != 200:
            raise self._http_error(resp)
        try:
            return as_dict(resp.json())
        except ValueError as exc:
            raise ProviderError(
                FailureKind.BAD_RESPONSE,
                "turbotext: 200 with a non-JSON body",
                retryable=True,
            ) from exc

    def _poll(self, ctx: CallContext, url: str, headers: Mapping[str, str], queue_id: Any) -> dict[str, Any]:
        """Ask for the result every ``poll_interval`` until it is final or time runs out."""

        def probe() -> dict[str, Any] | None:
            answer = self._call(ctx, url, headers, {"do": "get_result", "queueid": queue_id})
            # "still working", with or without success:false
            return None if answer.get("action") == "reconnect" else answer

        return transport.poll(ctx, self.config.poll_interval, probe)

    def _result_url(self, answer: Mapping[str, Any]) -> str:
        data = as_dict(answer.get("data"))
        if data.get("forbidden_content"):
            raise ProviderError(FailureKind.BLOCKED, "turbotext: result blocked by moderation")
        if not answer.get("success"):
            raise self._failure(answer, "get_result")
        images = data.get("image")
        first = images[0] if isinstance(images, list) and images else None
        for candidate in (
            answer.get("uploaded_image"),
            data.get("uploaded_image"),
            first,
        ):
            if isinstance(candidate, str) and candidate.strip():
                # data.image[0] may be relative to the site.
                return self._own_url(urljoin(self.base_url + "/", candidate.strip()))
        raise ProviderError(FailureKind.BAD_RESPONSE, "turbotext: finished without a result URL")

    def _own_url(self, url: str) -> str:
        """``url`` if it is on one of the provider's own hosts: the server never
        fetches an address a provider answer chose elsewhere (the internal network)."""
        parts = urlsplit(url)
        allowed = self.config.result_hosts or (urlsplit(self.base_url).hostname or "",)
        if parts.scheme not in ("http", "https") or (parts.hostname or "") not in allowed:
            raise ProviderError(
                FailureKind.BAD_RESPONSE,
                f"turbotext: result URL on a host not allowed ({parts.hostname!r}): {url[:200]}",
            )
        return url

    # -- errors ----------------------------------------------------------------

    @staticmethod
    def _failure(answer: Mapping[str, Any], step: str) -> ProviderError:
        """``{"success": false, "error": "..."}``: not retryable unless it says "overloaded"."""
        text = str(answer.get("error") or answer.get("message") or "no error text")
        if any(word in text.lower() for word in TRANSIENT_WORDS):
            return ProviderError(FailureKind.PROVIDER_5XX, f"turbotext {step}: {text}", retryable=True)
        return ProviderError(FailureKind.BAD_RESPONSE, f"turbotext {step}: {text}")

    @staticmethod
    def _http_error(resp: requests.Response) -> ProviderError:
        status = resp.status_code
        what = f"turbotext: HTTP {status}: {resp.text[:200]}"
        if status in (401, 403):
            return ProviderError(FailureKind.NOT_CONFIGURED, f"turbotext: API key rejected ({what})")
        if status == 429:
            retry_after = transport.parse_seconds(resp.headers.get("Retry-After"))
            return ProviderError(FailureKind.QUOTA, what, retry_after=retry_after)
        if status >= 500:
            return ProviderError(FailureKind.PROVIDER_5XX, what, retryable=True)
        return ProviderError(FailureKind.BAD_RESPONSE, what)
