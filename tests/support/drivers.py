"""Calling a provider driver directly in tests: jobs, budgets, typed failures."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
import requests
from PIL import Image

from photochanger.providers.base import CallContext, ImageInput, ProviderDriver, ProviderError, ProviderJob
from tests.support.mockserver import FileHost


def jpeg(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def image_input(role: str, color: tuple[int, int, int], url: str | None = None) -> ImageInput:
    return ImageInput(jpeg(color), "image/jpeg", role, url=url)


def linked_input(host: FileHost, name: str, role: str, color: tuple[int, int, int]) -> ImageInput:
    """A JPEG input also served by ``host``, as a provider-media link."""
    data = jpeg(color)
    return ImageInput(data, "image/jpeg", role, url=host.add(name, data, "image/jpeg"))


def make_job(
    operation: str,
    photo: ImageInput | None,
    templates: tuple[ImageInput, ...] = (),
    api_key: str | None = None,
    **settings: Any,
) -> ProviderJob:
    return ProviderJob(
        job_id="job-7",
        slot_id="slot-002",
        operation=operation,
        settings=settings,
        photo=photo,
        templates=templates,
        api_key=api_key,
    )


def ctx(seconds: float = 10.0) -> CallContext:
    return CallContext(deadline=time.monotonic() + seconds, session=requests.Session())


def failure(driver: ProviderDriver, job: ProviderJob, seconds: float = 10.0) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        driver.process(job, ctx(seconds))
    return info.value


def color(data: bytes) -> Any:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB").getpixel((0, 0))
