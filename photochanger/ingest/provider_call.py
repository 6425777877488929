"""The provider call: retries of retryable failures, all inside the ingest's deadline.

Every attempt asks the provider's circuit breaker first: an open circuit ends
the step at once with ``provider_unavailable``, and each attempt's outcome is
reported back to it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import gevent
import requests

from photochanger.infra import metrics
from photochanger.infra.circuit import CircuitBreaker, Ticket
from photochanger.ingest.outcome import StepFailure
from photochanger.providers.base import (
    CallContext,
    FailureKind,
    ProviderDriver,
    ProviderError,
    ProviderJob,
    ProviderResult,
)

log = logging.getLogger("photochanger.ingest")

#: Time kept back from the provider for storing the result and answering.
STORE_MARGIN = 0.5
#: Backoff before retry n (seconds); capped by the time left.
BACKOFF = (0.3, 0.8, 1.5, 2.5)
#: Failures that say the provider's host is down or broken: the ones a circuit counts.
CIRCUIT_FAILURES = frozenset({FailureKind.NETWORK, FailureKind.PROVIDER_5XX})


class _DeadlineExpired(Exception):
    """Raised by ``gevent.Timeout`` when the ingest deadline runs out."""


class _Attempts:
    """How many calls were made, when the current one started, and its circuit ticket."""

    def __init__(self, provider: str, breaker: CircuitBreaker | None) -> None:
        self.provider = provider
        self.breaker = breaker
        self.ticket: Ticket | None = None
        self.count = 0
        self.started = time.monotonic()

    def begin(self, ctx: CallContext) -> None:
        """Start an attempt, or :class:`StepFailure` ``provider_unavailable`` while the circuit is open."""
        self.started = time.monotonic()
        if self.breaker is not None:
            self.ticket = self.breaker.admit(self.provider, ctx.time_left())
            if self.ticket is None:
                raise StepFailure("provider_unavailable", f"circuit of {self.provider} is open", self.count)
        self.count += 1

    def ended(self, failure: FailureKind | None) -> bool:
        """Record the attempt; returns whether the provider's circuit is open now."""
        metrics.provider_attempt(
            self.provider, failure.value if failure else None, time.monotonic() - self.started
        )
        ticket, self.ticket = self.ticket, None
        if ticket is None or self.breaker is None:
            return False
        if failure in CIRCUIT_FAILURES:
            return self.breaker.failed(ticket)
        if failure is FailureKind.TIMEOUT:
            self.breaker.undecided(ticket)
        else:
            self.breaker.succeeded(ticket)
        return False

    def abandon(self) -> None:
        """The attempt ended by a bug: it tells the circuit nothing, and a probe frees its lease."""
        ticket, self.ticket = self.ticket, None
        if ticket is not None and self.breaker is not None:
            self.breaker.undecided(ticket)


def call_provider(
    driver: ProviderDriver,
    prepared: Callable[[], ProviderJob],
    provider: str,
    deadline: float,
    session: requests.Session,
    breaker: CircuitBreaker | None,
) -> tuple[ProviderResult, int]:
    """The driver's result and the number of calls it took; raises :class:`StepFailure`.

    ``prepared`` waits for the job the driver prepared (see
    :meth:`ProviderDriver.prepare`); that wait counts against the deadline.
    ``breaker`` guards every attempt (``None`` for drivers that need no network).
    """
    call_deadline = deadline - STORE_MARGIN
    ctx = CallContext(deadline=call_deadline, session=session, sleep=gevent.sleep)
    attempts = _Attempts(provider, breaker)
    budget = max(0.0, call_deadline - time.monotonic())
    try:
        with gevent.Timeout(budget, _DeadlineExpired):
            try:
                pjob = prepared()
            except ProviderError as exc:  # e.g. an unreadable template: not retryable
                raise StepFailure(exc.kind.value, exc.detail, 1) from None
            return _with_retries(driver, pjob, ctx, attempts), attempts.count
    except _DeadlineExpired:
        attempts.ended(FailureKind.TIMEOUT)
        raise StepFailure("timeout", "deadline reached during provider call", attempts.count) from None


def _with_retries(
    driver: ProviderDriver, pjob: ProviderJob, ctx: CallContext, attempts: _Attempts
) -> ProviderResult:
    while True:
        attempts.begin(ctx)
        try:
            result = driver.process(pjob, ctx)
        except ProviderError as exc:
            if attempts.ended(exc.kind):
                raise StepFailure("provider_unavailable", exc.detail, attempts.count) from None
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
        except Exception:
            attempts.abandon()
            raise
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
