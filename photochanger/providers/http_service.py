"""A studio's own image-in/image-out HTTP service (``reference/providers.md`` §7).

Nothing about such a service can be assumed, so the slot settings describe the
shape: where and how the photo goes (multipart field, raw body or base64 in
JSON) and what comes back (the image bytes, base64 in JSON or a link in JSON).
The key saved in the settings (``provider_keys.http_service``, encrypted) or
``HTTP_SERVICE_API_KEY`` is sent in the configured header when there is one.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urljoin

import pybase64
import requests

from photochanger.media.images import EXT_BY_MIME
from photochanger.providers import base, transport
from photochanger.providers.base import CallContext, FailureKind, ProviderError, ProviderJob, ProviderResult
from photochanger.providers.transport import as_dict, as_list

REQUEST_FORMATS = ["multipart", "binary", "json_base64"]
RESPONSE_FORMATS = ["image", "json_base64", "json_url"]
AUTH_SCHEMES = ["Bearer", "Token", "Key", "plain"]

_FIELD = {"type": "string", "pattern": r"^[A-Za-z0-9_.\-\[\]]+$", "maxLength": 100}


def parse_headers(text: str) -> dict[str, str]:
    """``Name: value`` lines (the slot's extra headers); blank lines are skipped."""
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
            raise ProviderError(
                FailureKind.NOT_CONFIGURED,
                f"http_service: header line {number} is not 'Name: value'",
            )
        headers[name.strip()] = value.strip()
    return headers


def pick(payload: Any, path: str) -> Any:
    """The value at a dotted path such as ``data.0.b64_json``; ``None`` when absent."""
    value = payload
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


class HttpServiceDriver(transport.HttpDriver):
    """Sends the booth photo to the URL in the slot settings and takes the image it answers."""

    name = "http_service"
    title = "Свой HTTP-сервис (фото → фото)"
    operations: ClassVar[Mapping[str, str]] = {"image_edit": "Обработка фото сервисом студии"}
    default_base_url = ""
    url_setting = "url"
    key_optional = True
    max_templates = 4
    settings_schemas: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "image_edit": base.slot_settings_schema(
            {
                "url": {
                    "type": "string",
                    "pattern": r"^https?://\S+$",
                    "maxLength": 2000,
                    "title": "Адрес сервиса (URL)",
                    "description": "Например http://10.0.0.5:8002/segment",
                },
                "method": {"type": "string", "enum": ["POST", "PUT"], "default": "POST", "title": "Метод"},
                "request_format": {
                    "type": "string",
                    "enum": REQUEST_FORMATS,
                    "default": "multipart",
                    "title": "Как отправлять фото",
                },
                "field_name": {
                    **_FIELD,
                    "default": "image",
                    "title": "Поле с фото",
                    "description": "Имя поля формы или ключа JSON",
                },
                "template_field": {
                    **_FIELD,
                    "title": "Поле с шаблонами",
                    "description": "Пусто — шаблоны не отправляются",
                },
                "prompt": {"type": "string", "title": "Промпт (если сервис его принимает)"},
                "prompt_field": {**_FIELD, "default": "prompt", "title": "Поле с промптом"},
                "response_format": {
                    "type": "string",
                    "enum": RESPONSE_FORMATS,
                    "default": "image",
                    "title": "Что возвращает сервис",
                },
                "response_field": {
                    "type": "string",
                    "maxLength": 200,
                    "default": "image",
                    "title": "Путь к результату в JSON",
                    "description": "Через точку, например data.0.b64_json или result.url",
                },
                "auth_header": {
                    "type": "string",
                    "pattern": r"^[A-Za-z0-9\-]+$",
                    "maxLength": 100,
                    "default": "Authorization",
                    "title": "Заголовок для ключа API",
                    "description": "Ключ задаётся в настройках; без ключа заголовок не отправляется",
                },
                "auth_scheme": {
                    "type": "string",
                    "enum": AUTH_SCHEMES,
                    "default": "Bearer",
                    "title": "Формат ключа",
                },
                "headers": {
                    "type": "string",
                    "maxLength": 2000,
                    "title": "Дополнительные заголовки",
                    "description": "По одному на строку: Имя: значение",
                },
            },
            required=["url"],
        )
    }

    def process(self, job: ProviderJob, ctx: CallContext) -> ProviderResult:
        if job.operation not in self.operations:
            raise ProviderError(
                FailureKind.NOT_CONFIGURED, f"http_service: unknown operation {job.operation!r}"
            )
        settings = job.settings
        url = str(settings.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise ProviderError(FailureKind.NOT_CONFIGURED, "http_service: the slot has no service URL")
        headers = self.headers(job)
        body = self.body(job)
        if isinstance(body.get("data"), bytes):  # the photo is the whole body
            headers.setdefault("Content-Type", job.guest_photo("http_service").mime)
        resp = transport.send(ctx, str(settings.get("method") or "POST"), url, headers=headers, **body)
        if resp.status_code != 200:
            raise self._http_error(resp)
        return self._result(ctx, job, resp)

    # -- request ---------------------------------------------------------------

    def headers(self, job: ProviderJob) -> dict[str, str]:
        settings = job.settings
        headers = parse_headers(str(settings.get("headers") or ""))
        key = self.optional_api_key(job)
        if key:
            scheme = str(settings.get("auth_scheme") or "Bearer")
            header = str(settings.get("auth_header") or "Authorization")
            headers[header] = key if scheme == "plain" else f"{scheme} {key}"
        return headers

    @staticmethod
    def body(job: ProviderJob) -> dict[str, Any]:
        """``requests`` keyword arguments carrying the photo (and templates, prompt) as configured."""
        settings = job.settings
        field = str(settings.get("field_name") or "image")
        template_field = str(settings.get("template_field") or "")
        prompt_field = str(settings.get("prompt_field", "prompt") or "")
        prompt = job.prompt if prompt_field and job.prompt.strip() else ""
        how = str(settings.get("request_format") or "multipart")
        photo = job.guest_photo("http_service")
        if how == "binary":
            return {"data": photo.data}
        if how == "json_base64":
            body: dict[str, Any] = {field: pybase64.b64encode(photo.data).decode()}
            if template_field and job.templates:
                body[template_field] = [pybase64.b64encode(t.data).decode() for t in job.templates]
            if prompt:
                body[prompt_field] = prompt
            return {"json": body}
        images = [(field, photo)] + ([(template_field, t) for t in job.templates] if template_field else [])
        files = [
            (name, (f"{image.role}-{n}.{EXT_BY_MIME.get(image.mime, 'jpg')}", image.data, image.mime))
            for n, (name, image) in enumerate(images, 1)
        ]
        return {"files": files, "data": {prompt_field: prompt} if prompt else {}}

    # -- response --------------------------------------------------------------

    def _result(self, ctx: CallContext, job: ProviderJob, resp: requests.Response) -> ProviderResult:
        how = str(job.settings.get("response_format") or "image")
        if how == "image":
            return transport.checked_image(resp.content, "http_service")
        path = str(job.settings.get("response_field") or "image")
        value = pick(transport.json_of(resp, "http_service"), path)
        if isinstance(value, list) and value:
            value = value[0]
        if not isinstance(value, str) or not value:
            raise ProviderError(
                FailureKind.BAD_RESPONSE, f"http_service: no {path!r} in the JSON answer", retryable=True
            )
        if how == "json_url":
            # A relative link is resolved against the service's URL.
            return transport.download(ctx, urljoin(str(job.settings["url"]), value), "http_service")
        encoded = value.partition(",")[2] if value.startswith("data:") else value
        try:
            data = pybase64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProviderError(
                FailureKind.BAD_RESPONSE, f"http_service: {path!r} is not base64", retryable=True
            ) from exc
        return transport.checked_image(data, "http_service")

    @staticmethod
    def _http_error(resp: requests.Response) -> ProviderError:
        """Plain status codes; the text of a JSON ``error``/``detail``/``message`` goes into the log."""
        detail = ""
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            found = body.get("error") or body.get("detail") or body.get("message")
            detail = str(as_dict(found).get("message") or found) if found else ""
        elif isinstance(body, list):
            detail = "; ".join(str(as_dict(d).get("msg") or d) for d in as_list(body))
        if resp.status_code == 451:
            return ProviderError(FailureKind.BLOCKED, f"http_service: HTTP 451: {detail or 'refused'}")
        if resp.status_code in (404, 405):
            # Nothing listens at that URL/method: the slot's settings are wrong.
            return ProviderError(
                FailureKind.NOT_CONFIGURED,
                f"http_service: HTTP {resp.status_code} — check the URL and method "
                f"({detail or resp.text[:100]})",
            )
        return transport.status_failure(resp, "http_service", detail)
