"""One ingest's chain steps: each step's job, permit, circuit and provider call.

The first step's job was started by the ingest service while the photo was
stored (and maybe while it arrived); a fallback step builds its own when it
begins, with its provider's settings, key and template limit.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from photochanger.infra.background import in_thread
from photochanger.infra.shared_permits import Releasable
from photochanger.ingest.early_shrink import prepare_job
from photochanger.ingest.outcome import StepFailure
from photochanger.ingest.provider_call import AttemptLog, call_provider
from photochanger.ingest.publishing import Publications
from photochanger.providers.base import ImageInput, ProviderJob, ProviderResult
from photochanger.runtime import AppServices
from photochanger.settings.provider_keys import provider_api_key
from photochanger.settings.store import RuntimeSettings
from photochanger.slots.chain import ChainStep
from photochanger.slots.snapshot import SlotSnapshot


@dataclasses.dataclass
class StepRunner:
    """Runs step ``index`` of the slot's chain until the step's deadline (see ``chain_call``)."""

    svc: AppServices
    settings: RuntimeSettings
    slot: SlotSnapshot
    job_id: str
    #: the first step's job, being prepared
    first: Callable[[], ProviderJob]
    #: the booth photo as sent and its stored path (none for a text-to-image run), and the slot's templates
    photo: ImageInput | None
    in_rel: str | None
    #: reads the stored photo (a fallback step's photo is read from the store, not kept in memory)
    stored: Callable[[], bytes] | None
    templates: tuple[ImageInput, ...]
    links: Publications
    deadline: float
    journal: AttemptLog = dataclasses.field(default_factory=AttemptLog)

    def __call__(self, index: int, step: ChainStep, step_deadline: float) -> ProviderResult:
        driver = self.svc.drivers.get(step.provider)
        if driver is None:
            raise StepFailure("not_configured", f"provider {step.provider} is not installed", 0)
        lease = self._permit(index, step)
        try:
            prepared = self.first if index == 0 else self._job(step, step_deadline)
            breaker = None
            if not driver.offline:
                breaker = self.svc.breaker(
                    self.settings.circuit_failure_threshold, self.settings.circuit_cooldown_seconds
                )
            session = self.svc.session_for(step.provider)
            return call_provider(
                driver,
                prepared,
                step.provider,
                step_deadline,
                session,
                breaker,
                journal=self.journal,
                step=index,
                policy=step.retry,
            )
        finally:
            if lease is not None:
                lease.release()

    def _permit(self, index: int, step: ChainStep) -> Releasable | None:
        """A fallback provider's own permit (the slot's provider has one from the claim)."""
        if index == 0 or step.provider == self.slot.provider:
            return None
        lease = self.svc.permits.try_acquire(
            f"provider-{step.provider}", self.settings.concurrency_per_provider, self.job_id
        )
        if lease is None:
            self.journal.add(index, step.provider, "provider_busy", time.monotonic())
            raise StepFailure("provider_busy", f"no free permit for {step.provider}", 0)
        return lease

    def _job(self, step: ChainStep, step_deadline: float) -> Callable[[], ProviderJob]:
        driver = self.svc.drivers[step.provider]
        templates = self.templates
        if driver.max_templates is not None:
            templates = templates[: driver.max_templates]
        pjob = ProviderJob(
            job_id=self.job_id,
            slot_id=self.slot.id,
            operation=step.operation,
            settings=dict(step.settings),
            photo=self.photo if driver.uses_photo(step.operation) else None,
            templates=templates,
            api_key=provider_api_key(step.provider, self.settings.raw),
        )
        if not driver.input_urls:
            return in_thread(prepare_job, driver, pjob, None, self.stored)
        sent_rel = self.in_rel if pjob.photo is not None else None
        photo, linked = self.links.publish(
            self.job_id, self.slot, sent_rel, pjob.photo, pjob.templates, step_deadline
        )
        published = dataclasses.replace(pjob, photo=photo, templates=linked)
        return lambda: published
