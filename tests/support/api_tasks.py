"""Integration API tasks in process: a prompt-capable driver and one pass of the runner."""

from __future__ import annotations

import io
from typing import Any, ClassVar

from flask import Flask
from PIL import Image

from photochanger.integration.runner import run_task
from photochanger.integration.tasks import claim_queued
from photochanger.providers.base import (
    CallContext,
    FailureKind,
    ProviderDriver,
    ProviderError,
    ProviderJob,
    ProviderResult,
)
from photochanger.runtime import services

LEASE_SECONDS = 120


class PaintsPrompts(ProviderDriver):
    """A text-to-image driver: the picture's width is the prompt's length (so tests can see it arrived)."""

    name = "paints"
    title = "Рисует по промпту"
    operations: ClassVar[dict[str, str]] = {"text_to_image": "Картинка по промпту"}
    settings_schemas: ClassVar[dict[str, Any]] = {"text_to_image": {"type": "object"}}
    text_to_image_operations: ClassVar[frozenset[str]] = frozenset({"text_to_image"})

    def __init__(self) -> None:
        super().__init__()
        self.prompts: list[str] = []

    def process(self, job: ProviderJob, ctx: CallContext) -> ProviderResult:
        prompt = str(job.settings["prompt"])
        self.prompts.append(prompt)
        out = io.BytesIO()
        Image.new("RGB", (10 + len(prompt), 20), (200, 30, 30)).save(out, "JPEG")
        return ProviderResult(out.getvalue(), "image/jpeg")


class AlwaysDown(ProviderDriver):
    """A photo driver whose provider answers 5xx every time."""

    name = "down"
    title = "Недоступен"
    operations: ClassVar[dict[str, str]] = {"image_edit": "Правка"}
    settings_schemas: ClassVar[dict[str, Any]] = {"image_edit": {"type": "object"}}

    def process(self, job: Any, ctx: CallContext) -> ProviderResult:
        raise ProviderError(FailureKind.PROVIDER_5XX, "HTTP 503")


def install_driver(app: Flask, driver: ProviderDriver) -> ProviderDriver:
    with app.app_context():
        services().drivers[driver.name] = driver
    return driver


def run_queue_once(app: Flask, limit: int = 50) -> list[str]:
    """Claim every due task and run it to its outcome, one after another; the ids run."""
    import datetime as dt

    with app.app_context():
        ids = claim_queued(limit, "tests:1", dt.timedelta(seconds=LEASE_SECONDS))
    for task_id in ids:
        with app.app_context():
            run_task(task_id)
    return ids
