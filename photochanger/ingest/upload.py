"""Reading and validating an uploaded photo: size, type by bytes, hashes."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import IO

from ..config import MB
from ..errors import ApiError
from ..media.images import sniff_mime, verify_image

#: Form field names accepted for the photo, in order of preference.
FILE_FIELDS = ("fileToUpload", "image", "file")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    data: bytes
    mime: str
    sha1: str
    sha256: str
    filename: str | None

    @property
    def size(self) -> int:
        return len(self.data)


def read_upload(stream: IO[bytes], filename: str | None, limit_mb: int) -> Upload:
    """Read a photo once, hashing as it is read; reject oversize and non-images.

    Raises :class:`ApiError` ``payload_too_large`` (413) or
    ``unsupported_media_type`` (415). The declared content type is ignored.
    """
    limit = limit_mb * MB
    sha1, sha256 = hashlib.sha1(usedforsecurity=False), hashlib.sha256()
    buf = io.BytesIO()
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        if buf.tell() + len(chunk) > limit:
            raise ApiError("payload_too_large", f"Файл больше допустимого размера: предел {limit_mb} МБ")
        sha1.update(chunk)
        sha256.update(chunk)
        buf.write(chunk)
    data = buf.getvalue()
    if not data:
        raise ApiError("bad_request", "Файл пустой")
    if sniff_mime(data[:16]) is None:
        raise ApiError("unsupported_media_type")
    mime = verify_image(io.BytesIO(data))
    if mime is None:
        raise ApiError(
            "unsupported_media_type",
            "Файл повреждён или не является изображением JPEG, PNG или WEBP",
        )
    return Upload(data, mime, sha1.hexdigest(), sha256.hexdigest(), filename)
