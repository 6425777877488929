"""Text-to-image: a picture from a prompt and the slot's settings alone, with no guest photo.

The seam between prompt jobs (``POST /api/v1/jobs`` with JSON) and the drivers. A
driver that can make a picture without a photo lists those operations in
``prompt_operations`` and implements ``generate``; every other driver is refused
before anything is queued (422 ``prompt_not_supported``). A :class:`PromptJob` is
a separate type from :class:`~photochanger.providers.base.ProviderJob`, so no
photo-editing driver ever meets a job without a photo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from photochanger.providers.base import CallContext, FailureKind, ImageInput, ProviderError, ProviderResult


@dataclass(frozen=True)
class PromptJob:
    """Everything a driver needs to make a picture from text; never mutated."""

    job_id: str
    slot_id: str
    operation: str
    settings: Mapping[str, Any]
    prompt: str
    templates: tuple[ImageInput, ...] = ()
    api_key: str | None = None


@runtime_checkable
class PromptDriver(Protocol):
    """A driver that makes pictures from a prompt alone."""

    prompt_operations: frozenset[str]

    def generate(self, job: PromptJob, ctx: CallContext) -> ProviderResult: ...


def supports_prompt(driver: object, operation: str) -> bool:
    """Whether ``driver`` runs ``operation`` from a prompt with no photo."""
    return isinstance(driver, PromptDriver) and operation in driver.prompt_operations


def generate(driver: object, job: PromptJob, ctx: CallContext) -> ProviderResult:
    """The driver's picture for ``job``; ``not_configured`` when it cannot make one without a photo."""
    if not isinstance(driver, PromptDriver) or job.operation not in driver.prompt_operations:
        raise ProviderError(FailureKind.NOT_CONFIGURED, f"{job.operation}: no picture from a prompt alone")
    return driver.generate(job, ctx)
