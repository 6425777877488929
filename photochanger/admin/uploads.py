"""Reading an image file from an admin multipart request."""

from __future__ import annotations

from flask import request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException

from photochanger.config import HARD_UPLOAD_CAP_MB
from photochanger.errors import ApiError
from photochanger.media.upload import Upload, read_upload


def form_file(field: str) -> FileStorage | None:
    """The uploaded file in ``field``; 400 for a body that is not valid multipart."""
    try:
        files = request.files
    except HTTPException:
        raise
    except Exception as exc:
        raise ApiError(
            "bad_request", "Некорректное тело multipart/form-data", extra={"field": field}
        ) from exc
    return files.get(field)


def required_image(field: str, limit_mb: int = HARD_UPLOAD_CAP_MB) -> Upload:
    """JPEG/PNG/WEBP by its bytes from ``field`` (400/413/415 otherwise)."""
    file = form_file(field)
    if file is None:
        raise ApiError("bad_request", f"Поле «{field}»: не передан файл", extra={"field": field})
    return read_upload(file.stream, file.filename, limit_mb)
