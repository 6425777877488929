"""Provider driver interface: immutable job in, image bytes out, typed failures.

Drivers know nothing of Flask or the database. The ingest service builds a
:class:`ProviderJob`, hands it to :meth:`ProviderDriver.process` together with a
:class:`CallContext` (time budget, HTTP session) and maps :class:`ProviderError`
kinds to HTTP answers.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests

from photochanger.media import qr


class FailureKind(enum.StrEnum):
    """Why a provider call failed; each kind has one HTTP answer (DESIGN.md §3)."""

    TIMEOUT = "timeout"
    NETWORK = "network"
    PROVIDER_5XX = "provider_5xx"
    QUOTA = "quota"
    BAD_RESPONSE = "bad_response"
    BLOCKED = "blocked"
    NOT_CONFIGURED = "not_configured"


class ProviderError(Exception):
    """A typed provider failure.

    ``retryable`` tells the ingest service whether another attempt inside the
    deadline can help (network resets, 5xx, Gemini ``NO_IMAGE``); quota,
    blocked content and invalid keys are never retried.
    """

    def __init__(
        self,
        kind: FailureKind,
        detail: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class ImageInput:
    """One image sent to a provider: the booth photo or a slot template.

    ``url`` is set by the ingest service for drivers that fetch inputs by URL
    (``input_urls = True``): a short-lived public ``/public/provider-media`` link.
    """

    data: bytes
    mime: str
    role: str
    url: str | None = None


#: The operation id of making an image from the prompt alone (no guest photo).
TEXT_TO_IMAGE = "text_to_image"


@dataclass(frozen=True)
class ProviderJob:
    """Everything a driver needs for one call; never mutated.

    ``photo`` is ``None`` for a text-to-image operation: the prompt (and any
    slot templates) make the picture.
    """

    job_id: str
    slot_id: str
    operation: str
    settings: Mapping[str, Any]
    photo: ImageInput | None
    templates: tuple[ImageInput, ...] = ()
    api_key: str | None = None

    @property
    def prompt(self) -> str:
        return str(self.settings.get("prompt") or "")

    @property
    def images(self) -> tuple[ImageInput, ...]:
        """The photo (when there is one), then the templates in slot order."""
        return self.templates if self.photo is None else (self.photo, *self.templates)

    def guest_photo(self, where: str) -> ImageInput:
        """The photo of an operation that needs it; ``not_configured`` without one."""
        if self.photo is None:
            raise ProviderError(
                FailureKind.NOT_CONFIGURED, f"{where}: operation {self.operation!r} needs the guest's photo"
            )
        return self.photo


@dataclass(frozen=True)
class ProviderResult:
    data: bytes
    mime: str


@dataclass
class CallContext:
    """Time budget and transport for one provider call.

    ``deadline`` is a ``time.monotonic()`` instant; drivers derive every HTTP
    timeout from :meth:`time_left` so a slow call never outlives the ingest
    deadline (the outer ``gevent.Timeout`` is the hard stop).
    """

    deadline: float
    session: requests.Session
    sleep: Any = field(default=time.sleep)

    def time_left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def http_timeout(self, connect: float = 5.0) -> tuple[float, float]:
        """(connect, read) timeouts bounded by the remaining budget."""
        left = max(0.05, self.time_left())
        return (min(connect, left), left)

    def check_time(self) -> None:
        if self.time_left() <= 0:
            raise ProviderError(FailureKind.TIMEOUT, "deadline reached")


@dataclass(frozen=True)
class DriverConfig:
    """Deployment-level driver configuration (from the Flask config / env)."""

    base_url: str = ""
    default_api_key: str | None = None
    max_input_side: int = 2048
    #: Longest side that still serves a 1K result; see ``media.images.downscale``.
    min_input_side: int = 1024
    poll_interval: float = 2.0
    #: Largest provider answer read (bytes); a bigger one is a bad answer, never held in memory.
    max_answer_bytes: int = 64 * 1024 * 1024
    #: Hosts a result may be downloaded from; empty: the base URL's host only.
    result_hosts: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


COMMON_SETTINGS_PROPERTIES: dict[str, Any] = {
    "output_format": {
        "type": "string",
        "enum": ["auto", "jpeg", "png", "webp"],
        "default": "auto",
        "title": "Формат ответа",
        "description": "auto — как вернул провайдер; jpeg — надёжнее всего для печати",
    },
    "qr": qr.SETTINGS_SCHEMA,
}


#: The slot's prompt where an operation needs one; a driver adds its own description or limit.
PROMPT_SETTING: dict[str, Any] = {"type": "string", "minLength": 1, "title": "Промпт"}


def slot_settings_schema(properties: Mapping[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A driver's slot-settings JSON schema, with the settings every slot has."""
    return {
        "type": "object",
        "properties": {**COMMON_SETTINGS_PROPERTIES, **properties},
        "required": list(required or []),
        "additionalProperties": False,
    }


class ProviderDriver:
    """Base class of provider drivers; one module per provider."""

    name: ClassVar[str]
    title: ClassVar[str]
    #: operation id -> Russian label
    operations: ClassVar[Mapping[str, str]]
    #: operation id -> JSON schema of the slot settings for that operation
    settings_schemas: ClassVar[Mapping[str, Mapping[str, Any]]]
    #: settings property names that hold secrets (masked in forms)
    secret_fields: ClassVar[tuple[str, ...]] = ()
    needs_api_key: ClassVar[bool] = False
    #: True when the provider also works without a key (a self-hosted server);
    #: a key saved for it is still sent when there is one
    key_optional: ClassVar[bool] = False
    #: settings property holding the endpoint when each slot names its own
    #: (the HTTP-service driver) instead of a deployment ``{NAME}_API_BASE``
    url_setting: ClassVar[str | None] = None
    #: True when the provider fetches inputs by public URL (Turbotext, FAL)
    input_urls: ClassVar[bool] = False
    #: True when the driver works in-process, with no network (no circuit breaker)
    offline: ClassVar[bool] = False
    #: max template images the driver sends (None = unlimited)
    max_templates: ClassVar[int | None] = None
    #: operations that make an image from the prompt alone: no guest photo is sent or needed
    text_to_image_operations: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: DriverConfig | None = None) -> None:
        self.config = config or DriverConfig()

    def settings_schema(self, operation: str) -> Mapping[str, Any]:
        return self.settings_schemas[operation]

    @classmethod
    def supports_text_to_image(cls, operation: str | None = None) -> bool:
        """Whether the driver (or its ``operation``) makes images from a prompt without a photo."""
        if operation is None:
            return bool(cls.text_to_image_operations)
        return operation in cls.text_to_image_operations

    @classmethod
    def uses_photo(cls, operation: str) -> bool:
        """Whether ``operation`` sends the guest's photo (every operation but text-to-image)."""
        return operation not in cls.text_to_image_operations

    def default_settings(self, operation: str) -> dict[str, Any]:
        """Defaults declared in the schema for a fresh slot."""
        props = self.settings_schema(operation).get("properties", {})
        return {k: v["default"] for k, v in props.items() if "default" in v}

    def photo_box(self, settings: Mapping[str, Any]) -> tuple[int, int] | None:
        """``(max_side, min_side)`` :meth:`prepare` shrinks a slot's photo into, if it does.

        Knowing it before the photo arrives lets the ingest start shrinking the
        photo while it is still being uploaded; ``None`` (the default) means the
        photo is sent as it is.
        """
        return None

    def prepare(self, job: ProviderJob) -> ProviderJob:
        """CPU-only input preparation (e.g. downscaling) before :meth:`process`.

        The ingest service runs it in a worker thread while it stores the
        photo and records the job, so it must do no I/O and touch no shared
        state; Pillow releases the GIL while it decodes and encodes. The
        default sends the inputs as they are.
        """
        return job

    def process(self, job: ProviderJob, ctx: CallContext) -> ProviderResult:
        raise NotImplementedError
