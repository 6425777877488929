"""What an ingest step hands back: the request, the success, and the failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO

from photochanger.errors import REASONS, ApiError
from photochanger.ingest.early_shrink import EarlyShrink
from photochanger.media.spool import InputSpool
from photochanger.media.upload import Upload


@dataclass(frozen=True)
class IngestRequest:
    """A checked upload, ready for the pipeline (made by the Intake or the admin test-run).

    ``upload`` is ``None`` only for an admin's text-to-image test run without a photo.
    """

    slot_id: str
    upload: Upload | None
    arrival: float
    source: str = "ingest"
    hash_field: str | None = None
    hash_matched: bool | None = None
    idempotency_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: a head start on shrinking the photo for the provider, begun during the upload
    early: EarlyShrink | None = None
    #: the photo already written to disk while it arrived
    spool: InputSpool | None = None


@dataclass(frozen=True)
class IngestSuccess:
    """The stored result, opened for the answer.

    The answer streams from the file (gunicorn hands it to ``sendfile``), so no
    worker holds a result in memory while a slow booth reads it.
    """

    job_id: str
    body: BinaryIO
    size: int
    mime: str
    replayed: bool = False
    #: the provider whose image this is (the chain step that answered); the ``X-Provider`` header
    provider: str | None = None


class StepFailure(Exception):
    """A step failed for a documented reason; the job is recorded failed and answered so."""

    def __init__(self, reason: str, detail: str, attempts: int) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.attempts = attempts

    def api_error(self, job_id: str) -> ApiError:
        return ApiError(self.reason if self.reason in REASONS else "internal", job_id=job_id)
