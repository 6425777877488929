"""The provider call: retries of retryable failures, all inside the ingest's deadline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import gevent
import requests

from photochanger.infra import metrics
from photochanger.ingest.outcome import StepFailure
from photochanger.providers.base import (
    CallContext,
    FailureKind,
    ProviderDriver,
    ProviderError,
    ProviderJob,
    ProviderResult,
)
from photochanger.providers.prompt import PromptJob, generate

log = logging.getLogger("photochanger.ingest")

#: Time kept back from the provider for storing the result and answering.
STORE_MARGIN = 0.5
#: Backoff before retry n (seconds); capped by the time left.
BACKOFF = (0.3, 0.8, 1.5, 2.5)


class _DeadlineExpired(Exception):
    """Raised by ``gevent.Timeout`` when the ingest deadline runs out."""


class _Attempts:
    """How many calls were made and when the current one started (for metrics and the job row)."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.count = 0
        self.started = time.monotonic()

    def begin(self) -> None:
        self.count += 1
        self.started = time.monotonic()

    def ended(self, failure: str | None) -> None:
        metrics.provider_attempt(self.provider, failure, time.monotonic() - self.started)


def call_provider(
    driver: ProviderDriver,
    prepared: Callable[[], ProviderJob | PromptJob],
    provider: str,
    deadline: float,
    session: requests.Session,
) -> tuple[ProviderResult, int]:
    """The driver's result and the number of calls it took; raises :class:`StepFailure`.

    ``prepared`` waits for the job the driver prepared (see
    :meth:`ProviderDriver.prepare`); that wait counts against the deadline.
    """
    call_deadline = deadline - STORE_MARGIN
    ctx = CallContext(deadline=call_deadline, session=session, sleep=gevent.sleep)
    attempts = _Attempts(provider)
    budget = max(0.0, call_deadline - time.monotonic())
    try:
        with gevent.Timeout(budget, _DeadlineExpired):
            try:
                pjob = prepared()
            except ProviderError as exc:  # e.g. an unreadable template: not retryable
                raise StepFailure(exc.kind.value, exc.detail, 1) from None
            return _with_retries(driver, pjob, ctx, attempts), attempts.count
    except _DeadlineExpired:
        attempts.ended("timeout")
        raise StepFailure("timeout", "deadline reached during provider call", attempts.count) from None


def _with_retries(
    driver: ProviderDriver, pjob: ProviderJob | PromptJob, ctx: CallContext, attempts: _Attempts
) -> ProviderResult:
    while True:
        attempts.begin()
        try:
            if isinstance(pjob, PromptJob):
                result = generate(driver, pjob, ctx)
            else:
                result = driver.process(pjob, ctx)
        except ProviderError as exc:
            attempts.ended(exc.kind.value)
            pause = _retry_pause(exc, ctx, attempts)
            metrics.provider_retry(attempts.provider, exc.kind.value)
            log.warning(
                "provider.retry",
                extra={
                    "event": "provider.retry",
                    "job_id": pjob.job_id,
                    "provider": attempts.provider,
                    "failure_reason": exc.kind.value,
                    "attempt": attempts.count,
                },
            )
            gevent.sleep(pause)
            continue
        attempts.ended(None)
        return result


def _retry_pause(exc: ProviderError, ctx: CallContext, attempts: _Attempts) -> float:
    """The pause before the next try, or :class:`StepFailure` when there is no next try."""
    if exc.kind is FailureKind.TIMEOUT:
        raise StepFailure("timeout", exc.detail, attempts.count) from None
    pause = BACKOFF[min(attempts.count - 1, len(BACKOFF) - 1)]
    if not exc.retryable or ctx.time_left() < pause + 1.0:
        raise StepFailure(exc.kind.value, exc.detail, attempts.count) from None
    return pause
