"""The Intake: a booth's upload as it arrives, made into a checked :class:`IngestRequest`.

One Intake per request. Before the body is read it checks the declared size
and ends the read transaction; while the body is parsed (strictly, by
:class:`~photochanger.infra.request.StrictRequest`) it is handed each file
part, which it writes to the disk spool and starts shrinking for the provider
as the bytes arrive, and each text field, so a wrong password sent before the
photo is refused before the photo is read (an admin's bearer token, checked
by the route from the headers, stands in for the password); once parsed it checks the password
(if it came after the photo), the photo (size, type by its bytes, hashes) and
the booth's hash, and keeps the other fields as untrusted metadata. It is the
one place that decides what happens to the file part before the pipeline sees it.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Request, current_app
from werkzeug.exceptions import HTTPException

from photochanger.auth.ingest_guard import require_ingest_password
from photochanger.config import HARD_UPLOAD_CAP_MB, MB, MULTIPART_OVERHEAD
from photochanger.errors import ApiError
from photochanger.infra.request import HashingUpload, StrictRequest
from photochanger.ingest.arriving_uploads import ArrivingUploads
from photochanger.ingest.early_shrink import EarlyShrink
from photochanger.ingest.ledger import Ledger
from photochanger.ingest.outcome import IngestRequest
from photochanger.media.spool import InputSpool
from photochanger.media.upload import FILE_FIELDS, Upload, read_upload
from photochanger.runtime import AppServices
from photochanger.settings.store import RuntimeSettings
from photochanger.slots.snapshot import SlotSnapshot

#: Fields never stored in job metadata.
_PRIVATE_FIELDS = {"password"}
_MAX_META_FIELDS = 64
_MAX_META_VALUE = 2000
_MAX_IDEMPOTENCY_KEY = 200


class Intake:
    """One request's upload; use as a context manager so its spool and shrink end with it."""

    def __init__(
        self,
        request: Request,
        slot: SlotSnapshot,
        settings: RuntimeSettings,
        svc: AppServices,
        arrival: float,
        arriving: ArrivingUploads | None = None,
        admin: str | None = None,
    ) -> None:
        self.request = cast(StrictRequest, request)
        self.slot = slot
        self.settings = settings
        self.arrival = arrival
        self.limit_mb = min(
            settings.upload_limit_mb, slot.size_limit_mb or HARD_UPLOAD_CAP_MB, HARD_UPLOAD_CAP_MB
        )
        self.spool = InputSpool(svc.store)
        self.early: EarlyShrink | None = None
        self._svc = svc
        self._arriving = arriving
        # An admin's valid bearer token stands in for the booth password (auth/ingest_guard.py).
        self._password_checked = admin is not None

    def __enter__(self) -> Intake:
        declared = self.request.content_length
        if declared and declared > self.limit_mb * MB + MULTIPART_OVERHEAD:
            raise ApiError("payload_too_large", f"Файл больше допустимого размера: предел {self.limit_mb} МБ")
        Ledger().release()  # before the body is read: an upload over Wi-Fi takes seconds
        driver = self._svc.drivers.get(self.slot.provider)
        if driver is not None and not driver.uses_photo(self.slot.operation):
            driver = None  # text-to-image: the photo is stored, never sent, so never shrunk
        self.early = EarlyShrink.for_upload(
            driver, self.slot.settings, declared, self.settings.max_photo_megapixels
        )
        self.request.on_file_part = self._follow_part
        self.request.on_form_field = self._field_arrived
        return self

    def __exit__(self, *_exc: object) -> None:
        self.request.on_file_part = None
        self.request.on_form_field = None
        self.spool.discard()  # a no-op once the ingest kept it
        if self.early is not None:
            self.early.close()

    def _follow_part(self, part: HashingUpload) -> None:
        """A file part starts arriving: write it to disk and shrink it while it does."""
        if self.spool.attach(part):
            part.sink = self.spool
        if self.early is not None:
            self.early.attach(part.arriving)

    def _upload_arrived(self) -> None:
        """All of the body has arrived: it no longer counts as arriving (a body left unread
        is released by the route once drained)."""
        if self._arriving is not None:
            self._arriving.done()

    def _field_arrived(self, name: str, value: str) -> None:
        """A text field has arrived: a wrong password is refused before the file is read."""
        if name == "password" and not self._password_checked:
            self._password_checked = True
            require_ingest_password(value, self.settings.ingest_password_hash)

    def receive(self) -> IngestRequest:
        """Parse and check the whole upload: 400/401/413/415/429 as documented, else the request."""
        form, files = self._form()
        self._upload_arrived()
        if not self._password_checked:
            require_ingest_password(form.get("password", ""), self.settings.ingest_password_hash)
        file = next((files[name] for name in FILE_FIELDS if name in files), None)
        if file is None:
            raise ApiError("bad_request", "Не передан файл: поле fileToUpload")
        upload = read_upload(file.stream, file.filename, self.limit_mb, self.settings.max_photo_megapixels)
        hash_field, hash_matched = self._check_hash(form, upload)
        return IngestRequest(
            slot_id=self.slot.id,
            upload=upload,
            arrival=self.arrival,
            source="ingest",
            hash_field=hash_field,
            hash_matched=hash_matched,
            idempotency_key=self._idempotency_key(),
            metadata=_metadata(form, upload.filename),
            # Used only if they followed the chosen part (a decoy part may have come first).
            early=self.early if self.early is not None and self.early.serves(file.stream) else None,
            spool=self.spool if self.spool.serves(file.stream) else None,
        )

    def _form(self) -> tuple[Any, Any]:
        try:
            form, files = self.request.form, self.request.files
        except (HTTPException, ApiError):
            raise
        except Exception as exc:
            if exc is self.spool.error:
                raise  # the disk failed under the photo, its only copy (507 when full)
            raise ApiError("bad_request", "Некорректное тело multipart/form-data") from exc
        if not self.request.mimetype.startswith("multipart/form-data"):
            raise ApiError("bad_request", "Ожидается multipart/form-data")
        return form, files

    def _check_hash(self, form: Any, upload: Upload) -> tuple[str | None, bool | None]:
        """The booth's ``hash`` field and whether it matches; 409 in strict mode when it does not.

        409, not 400: the request is well formed and accepted in the default mode, only the
        current ``ingest_hash_mode`` setting refuses it.
        """
        hash_field = (form.get("hash") or "").strip().lower() or None
        hash_matched = None if hash_field is None else hash_field == upload.sha1
        if self.settings.ingest_hash_mode == "strict" and not hash_matched:
            message = "Поле hash не передано" if hash_field is None else None
            raise ApiError("hash_mismatch", message)
        if hash_field is not None and not hash_matched:
            current_app.logger.warning(
                "ingest.hash_mismatch", extra={"event": "ingest.hash_mismatch", "slot_id": self.slot.id}
            )
        return hash_field, hash_matched

    def _idempotency_key(self) -> str | None:
        key = (self.request.headers.get("Idempotency-Key") or "").strip() or None
        if key is not None and len(key) > _MAX_IDEMPOTENCY_KEY:
            raise ApiError(
                "bad_request", f"Заголовок Idempotency-Key длиннее {_MAX_IDEMPOTENCY_KEY} символов"
            )
        return key


def upload_limit_mb(settings: RuntimeSettings, slot: SlotSnapshot) -> int:
    """The slot's upload limit: the settings', the slot's own, never over the hard cap."""
    return min(settings.upload_limit_mb, slot.size_limit_mb or HARD_UPLOAD_CAP_MB, HARD_UPLOAD_CAP_MB)


def _metadata(form: Any, filename: str | None) -> dict[str, Any]:
    """Other text fields, kept as untrusted job metadata (never the password)."""
    meta: dict[str, Any] = {}
    for name in form:
        if name in _PRIVATE_FIELDS or len(meta) >= _MAX_META_FIELDS:
            continue
        meta[name[:100]] = str(form.get(name, ""))[:_MAX_META_VALUE]
    if filename:
        meta["_filename"] = filename[:255]
    return meta
