"""The result as stored and answered: checked, converted as the slot asks, with its QR code.

The bytes made here are the ones the booth prints, the store keeps and the
public link serves. Decoding and encoding are CPU work: the service runs
:func:`finish` in a thread, off the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from photochanger.ingest.outcome import StepFailure
from photochanger.media import images, qr
from photochanger.providers.base import ProviderResult

#: JPEG quality of a re-encoded result when the slot names none (images.convert's default).
DEFAULT_QUALITY = 92


def finish(result: ProviderResult, settings: Mapping[str, Any], page_url: str) -> tuple[bytes, str]:
    """The final ``(bytes, mime)``: the provider's image in the slot's format, QR code stamped when on."""
    data, mime = _converted(result, str(settings.get("output_format", "auto")))
    options = qr.QrOptions.of(settings)
    if options is not None:
        data = qr.stamp(data, mime, page_url, options, _quality(settings))
    return data, mime


def _converted(result: ProviderResult, output_format: str) -> tuple[bytes, str]:
    """Check the provider's bytes are an image and convert when the slot asks."""
    mime = images.sniff_mime(result.data[:16])
    if mime is None:
        raise StepFailure("bad_response", f"provider returned non-image bytes ({result.mime})", 1)
    target = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}.get(output_format)
    if target and target != mime:
        return images.convert(result.data, target), target
    return result.data, mime


def _quality(settings: Mapping[str, Any]) -> int:
    """The slot's JPEG quality where it has one (a number: GPT Image's ``quality`` is a word)."""
    value = settings.get("quality")
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_QUALITY
