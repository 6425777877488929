"""One chain step's provider call: retries by the step's policy, inside the step's deadline.

Every attempt asks the provider's circuit breaker first: an open circuit ends
the step at once with ``provider_unavailable``, and each attempt's outcome is
reported back to it. Every attempt is written to the job's :class:`AttemptLog`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

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
from photochanger.slots.chain import RetryPolicy

log = logging.getLogger("photochanger.ingest")

#: Backoff before retry n (seconds) when the step's policy names none; capped by the time left.
BACKOFF = (0.3, 0.8, 1.5, 2.5)
#: Failures that say the provider's host is down or broken: the ones a circuit counts.
CIRCUIT_FAILURES = frozenset({FailureKind.NETWORK, FailureKind.PROVIDER_5XX})
#: Outcomes of a step that made no call.
NOT_CALLED = frozenset({"provider_unavailable", "provider_busy"})


class _DeadlineExpired(Exception):
    """Raised by ``gevent.Timeout`` when the step's deadline runs out."""


class AttemptLog:
    """Every attempt of an ingest, over all chain steps: the job row's ``attempts_json``."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(self, step: int, provider: str, outcome: str, started: float) -> None:
        duration_ms = int((time.monotonic() - started) * 1000)
        self.entries.append(
            {"step": step, "provider": provider, "outcome": outcome, "duration_ms": duration_ms}
        )

    @property
    def calls(self) -> int:
        """Attempts that reached a provider."""
        return sum(1 for e in self.entries if e["outcome"] not in NOT_CALLED)


class _Attempts:
    """The attempts of one step: count, current start, circuit ticket."""

    def __init__(self, provider: str, step: int, breaker: CircuitBreaker | None, journal: AttemptLog) -> None:
        self.provider = provider
        self.step = step
        self.breaker = breaker
        self.journal = journal
        self.ticket: Ticket | None = None
        self.count = 0
        self.started = time.monotonic()

    def begin(self, ctx: CallContext) -> None:
        """Start an attempt, or :class:`StepFailure` ``provider_unavailable`` while the circuit is open."""
        self.started = time.monotonic()
        if self.breaker is not None:
            self.ticket = self.breaker.admit(self.provider, ctx.time_left())
            if self.ticket is None:
                self.journal.add(self.step, self.provider, "provider_unavailable", self.started)
                raise StepFailure("provider_unavailable", f"circuit of {self.provider} is open", self.count)
        self.count += 1

    def ended(self, failure: FailureKind | None) -> bool:
        """Record the attempt; returns whether the provider's circuit is open now."""
        metrics.provider_attempt(
            self.provider, failure.value if failure else None, time.monotonic() - self.started
        )
        self.journal.add(self.step, self.provider, failure.value if failure else "ok", self.started)
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
    *,
    journal: AttemptLog,
    step: int = 0,
    policy: RetryPolicy = RetryPolicy(),
) -> ProviderResult:
    """The driver's result within ``deadline`` (the step's); raises :class:`StepFailure`.

    ``prepared`` waits for the job the driver prepared (see
    :meth:`ProviderDriver.prepare`); that wait counts against the deadline.
    ``breaker`` guards every attempt (``None`` for drivers that need no network).
    """
    ctx = CallContext(deadline=deadline, session=session, sleep=gevent.sleep)
    attempts = _Attempts(provider, step, breaker, journal)
    budget = max(0.0, deadline - time.monotonic())
    try:
        with gevent.Timeout(budget, _DeadlineExpired):
            try:
                pjob = prepared()
            except ProviderError as exc:  # e.g. an unreadable template: not retryable
                raise StepFailure(exc.kind.value, exc.detail, 1) from None
            return _with_retries(driver, pjob, ctx, attempts, policy)
    except _DeadlineExpired:
        attempts.ended(FailureKind.TIMEOUT)
        raise StepFailure("timeout", "deadline reached during provider call", attempts.count) from None


def _with_retries(
    driver: ProviderDriver, pjob: ProviderJob, ctx: CallContext, attempts: _Attempts, policy: RetryPolicy
) -> ProviderResult:
    while True:
        attempts.begin(ctx)
        try:
            result = driver.process(pjob, ctx)
        except ProviderError as exc:
            if attempts.ended(exc.kind):
                raise StepFailure("provider_unavailable", exc.detail, attempts.count) from None
            pause = _retry_pause(exc, ctx, attempts, policy)
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


def _retry_pause(exc: ProviderError, ctx: CallContext, attempts: _Attempts, policy: RetryPolicy) -> float:
    """The pause before the next try, or :class:`StepFailure` when there is no next try."""
    if exc.kind is FailureKind.TIMEOUT:
        raise StepFailure("timeout", exc.detail, attempts.count) from None
    if policy.backoff_seconds is None:
        pause = BACKOFF[min(attempts.count - 1, len(BACKOFF) - 1)]
    else:
        pause = policy.backoff_seconds * 2 ** (attempts.count - 1)
    out_of_tries = policy.attempts is not None and attempts.count >= policy.attempts
    if not exc.retryable or out_of_tries or ctx.time_left() < pause + 1.0:
        raise StepFailure(exc.kind.value, exc.detail, attempts.count) from None
    return pause
