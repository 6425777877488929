"""The fallback chain: each step in turn, each with its share of the time left, one deadline for all."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from photochanger.ingest.outcome import StepFailure
from photochanger.providers.base import ProviderResult
from photochanger.slots.chain import DEFAULT_TIME_SHARE, ChainStep

log = logging.getLogger("photochanger.ingest")

#: Time kept back from the providers for storing the result and answering.
STORE_MARGIN = 0.5
#: Less time than this left: no further step is started.
MIN_STEP_SECONDS = 0.2

#: Runs one step until its own deadline: ``(index, step, step_deadline) -> result``.
RunStep = Callable[[int, ChainStep, float], ProviderResult]


def call_chain(
    chain: Sequence[ChainStep], deadline: float, run_step: RunStep, job_id: str
) -> tuple[ProviderResult, int]:
    """The first step's result that succeeds and its index; else the last step's failure.

    A step that is not the last gets its ``time_share`` of the time left when
    it starts; the last gets all of it. A step that fails hands over at once,
    so a step refused without a call (open circuit) costs the next nothing.
    """
    end = deadline - STORE_MARGIN
    for index, step in enumerate(chain):
        left = end - time.monotonic()
        if left < MIN_STEP_SECONDS:
            break
        last = index == len(chain) - 1
        share = 1.0 if last else (step.time_share or DEFAULT_TIME_SHARE)
        try:
            return run_step(index, step, time.monotonic() + left * share), index
        except StepFailure as exc:
            if last:
                raise
            log.warning(
                "chain.handover",
                extra={
                    "event": "chain.handover",
                    "job_id": job_id,
                    "provider": step.provider,
                    "failure_reason": exc.reason,
                    "attempt": index,
                },
            )
    # The time ran out before the chain did.
    raise StepFailure("timeout", "deadline reached before the chain's next step", 0)
