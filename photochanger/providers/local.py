"""The offline ``local`` provider: Pillow-only frames, overlays and colour filters.

It needs no key and no network, so a fresh install processes real photos at
once, and tests get real image output without a mock.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any, ClassVar

from PIL import Image, ImageEnhance, ImageOps

from photochanger.infra.background import in_cpu_thread
from photochanger.providers import base
from photochanger.providers.base import CallContext, FailureKind, ProviderError, ProviderJob, ProviderResult

FILTERS: dict[str, str] = {
    "none": "Без фильтра",
    "vivid": "Яркий",
    "warm": "Тёплый",
    "cool": "Холодный",
    "bw": "Чёрно-белый",
    "sepia": "Сепия",
    "vintage": "Винтаж",
}

_FILTER_PROP = {
    "type": "string",
    "enum": list(FILTERS),
    "default": "vivid",
    "title": "Цветовой фильтр",
}
_QUALITY_PROP = {
    "type": "integer",
    "minimum": 50,
    "maximum": 100,
    "default": 92,
    "title": "Качество JPEG",
}


def _channel_curve(im: Image.Image, r: float, g: float, b: float) -> Image.Image:
    rc, gc, bc = im.split()
    return Image.merge(
        "RGB",
        (
            rc.point(lambda v: min(255, int(v * r))),
            gc.point(lambda v: min(255, int(v * g))),
            bc.point(lambda v: min(255, int(v * b))),
        ),
    )


def _vivid(im: Image.Image) -> Image.Image:
    im = ImageEnhance.Color(im).enhance(1.35)
    return ImageEnhance.Contrast(im).enhance(1.12)


def _sepia(im: Image.Image) -> Image.Image:
    return ImageOps.colorize(ImageOps.grayscale(im), black="#2e1f0f", white="#fff4dc")


def _vintage(im: Image.Image) -> Image.Image:
    im = ImageEnhance.Color(im).enhance(0.7)
    im = _channel_curve(im, 1.06, 1.0, 0.88)
    return ImageEnhance.Contrast(im).enhance(0.9)


FILTER_FUNCS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "none": lambda im: im,
    "vivid": _vivid,
    "warm": lambda im: _channel_curve(im, 1.08, 1.02, 0.9),
    "cool": lambda im: _channel_curve(im, 0.92, 1.0, 1.1),
    "bw": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "sepia": _sepia,
    "vintage": _vintage,
}


def apply_filter(im: Image.Image, name: str) -> Image.Image:
    """Apply one of :data:`FILTERS` to an RGB image."""
    return FILTER_FUNCS[name](im.convert("RGB"))


class LocalDriver(base.ProviderDriver):
    """Frames/overlays a template PNG over the photo and applies colour filters."""

    name = "local"
    title = "Локальная обработка (без ИИ)"
    offline = True
    operations: ClassVar[dict[str, str]] = {
        "filter": "Цветовой фильтр",
        "overlay": "Рамка / наложение шаблона",
    }
    settings_schemas: ClassVar[dict[str, dict[str, Any]]] = {
        "filter": base.slot_settings_schema(
            {"filter": _FILTER_PROP, "quality": _QUALITY_PROP}, required=["filter"]
        ),
        "overlay": base.slot_settings_schema(
            {
                "filter": {**_FILTER_PROP, "default": "none"},
                "quality": _QUALITY_PROP,
                "fit": {
                    "type": "string",
                    "enum": ["stretch", "contain"],
                    "default": "stretch",
                    "title": "Подгонка шаблона",
                },
            }
        ),
    }

    def process(self, job: ProviderJob, ctx: CallContext) -> ProviderResult:
        # Decoding, filtering and encoding a big photo takes a core for seconds:
        # in an OS thread the worker's event loop keeps serving its other
        # requests, and the ingest's deadline (a gevent.Timeout) fires on time.
        return in_cpu_thread(self._render, job, ctx.deadline)()

    def _render(self, job: ProviderJob, deadline: float) -> ProviderResult:
        if time.monotonic() >= deadline:
            # Queued behind other renders past the ingest's deadline: nobody waits for it any more.
            raise ProviderError(FailureKind.TIMEOUT, "deadline reached before the render started")
        settings = job.settings
        try:
            opened = Image.open(io.BytesIO(job.guest_photo("local").data))
            photo: Image.Image = ImageOps.exif_transpose(opened) or opened
            out = apply_filter(photo, str(settings.get("filter", "none")))
            if job.operation == "overlay":
                if not job.templates:
                    raise ProviderError(FailureKind.NOT_CONFIGURED, "overlay slot has no template image")
                for template in job.templates:
                    out = self._overlay(out, template.data, str(settings.get("fit", "stretch")))
        except ProviderError:
            raise
        except (OSError, ValueError) as exc:
            raise ProviderError(FailureKind.BAD_RESPONSE, f"image processing failed: {exc}") from exc
        buf = io.BytesIO()
        out.convert("RGB").save(buf, "JPEG", quality=int(settings.get("quality", 92)))
        return ProviderResult(buf.getvalue(), "image/jpeg")

    @staticmethod
    def _overlay(base: Image.Image, template_bytes: bytes, fit: str) -> Image.Image:
        frame = Image.open(io.BytesIO(template_bytes)).convert("RGBA")
        if fit == "contain":
            frame = ImageOps.contain(frame, base.size, Image.Resampling.LANCZOS)
            layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
            layer.paste(frame, ((base.width - frame.width) // 2, (base.height - frame.height) // 2))
            frame = layer
        else:
            frame = frame.resize(base.size, Image.Resampling.LANCZOS)
        composed = base.convert("RGBA")
        composed.alpha_composite(frame)
        return composed.convert("RGB")
