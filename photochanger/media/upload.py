"""Reading and validating an uploaded photo: size, type by bytes, hashes."""

from __future__ import annotations

import hashlib
import io
from typing import IO

from photochanger.config import MB
from photochanger.errors import ApiError
from photochanger.infra.arriving import ArrivingBytes
from photochanger.infra.request import HashingUpload
from photochanger.media.images import size_from_head, sniff_mime, verify_image

#: Form field names accepted for the photo, in order of preference.
FILE_FIELDS = ("fileToUpload", "image", "file")
_CHUNK = 1024 * 1024
#: Enough of a file for its header (JPEG markers, PNG IHDR, WEBP chunks) in nearly every photo.
HEAD_BYTES = 64 * 1024


class Upload:
    """A checked photo: its bytes until :meth:`release`, and what is known of it for good.

    A photo that arrived into the ingest's disk spool has no bytes here
    (``on_disk``): the spool is its only copy, stored by renaming it.
    """

    def __init__(
        self,
        data: bytes,
        mime: str,
        sha1: str,
        sha256: str,
        filename: str | None,
        held_by: ArrivingBytes | None = None,
        size: int | None = None,
    ) -> None:
        self.data = data
        self.mime = mime
        self.sha1 = sha1
        self.sha256 = sha256
        self.filename = filename
        self.size = len(data) if size is None else size
        self.on_disk = size is not None and not data
        self._held_by = held_by

    def release(self) -> None:
        """Drop the bytes (once stored and prepared for the provider): a request that
        waits for its provider then holds only what the provider still needs."""
        self.data = b""
        if self._held_by is not None:
            self._held_by.release()
            self._held_by = None


def read_upload(
    stream: IO[bytes], filename: str | None, limit_mb: int, max_megapixels: int | None = None
) -> Upload:
    """Take a photo in one pass and check it; reject oversize and non-images.

    A part parsed by :class:`~photochanger.infra.request.StrictRequest` arrives
    already hashed and in memory, so nothing is read twice; any other stream
    is read once, hashing as it goes.

    Raises :class:`ApiError` ``payload_too_large`` (413) or
    ``unsupported_media_type`` (415). The declared content type is ignored.
    """
    limit = limit_mb * MB
    if isinstance(stream, HashingUpload) and stream.on_disk:
        return _check_on_disk(stream, filename, limit_mb, max_megapixels)
    if isinstance(stream, HashingUpload):
        data = stream.getvalue()
        if len(data) > limit:
            raise _too_large(limit_mb)
        sha1, sha256 = stream.sha1, stream.sha256
        held_by: ArrivingBytes | None = stream.arriving
        stream.release()  # the Upload and the arriving bytes now hold the only references
    else:
        data, sha1, sha256 = _read_hashing(stream, limit, limit_mb)
        held_by = None
    if not data:
        raise ApiError("bad_request", "Файл пустой")
    if sniff_mime(data[:16]) is None:
        raise ApiError("unsupported_media_type")
    if max_megapixels is not None:
        check_pixels(data, max_megapixels)
    mime = verify_image(data)
    if mime is None:
        raise _not_an_image()
    return Upload(data, mime, sha1.hexdigest(), sha256.hexdigest(), filename, held_by)


def _check_on_disk(
    stream: HashingUpload, filename: str | None, limit_mb: int, max_megapixels: int | None
) -> Upload:
    """:func:`read_upload`'s checks of a part in the disk spool, reading it back only for them."""
    arriving = stream.arriving
    size = arriving.size
    if size > limit_mb * MB:
        raise _too_large(limit_mb)
    if not size:
        raise ApiError("bad_request", "Файл пустой")
    if sniff_mime(arriving.peek(16)) is None:
        raise ApiError("unsupported_media_type")
    # The checks need the whole photo (the structure check its end): read back, dropped right after.
    whole = arriving.getvalue()
    if max_megapixels is not None:
        check_pixels(whole, max_megapixels)
    mime = verify_image(whole)
    del whole
    if mime is None:
        raise _not_an_image()
    stream.release()
    return Upload(b"", mime, stream.sha1.hexdigest(), stream.sha256.hexdigest(), filename, arriving, size)


def check_pixels(data: bytes, max_megapixels: int) -> None:
    """413 ``image_too_large`` when the header declares more pixels than allowed.

    Read from the header alone, before any decode: a few hundred bytes can
    declare a picture whose decode takes gigabytes and seconds of CPU.
    """
    size = size_from_head(data[:HEAD_BYTES]) or size_from_head(data)
    if size is not None and size[0] * size[1] > max_megapixels * 1_000_000:
        megapixels = size[0] * size[1] / 1_000_000
        raise ApiError(
            "image_too_large",
            f"Фото слишком большое: {size[0]}×{size[1]} ({megapixels:.0f} Мп), предел {max_megapixels} Мп",
        )


def _read_hashing(stream: IO[bytes], limit: int, limit_mb: int) -> tuple[bytes, hashlib._Hash, hashlib._Hash]:
    sha1, sha256 = hashlib.sha1(usedforsecurity=False), hashlib.sha256()
    buf = io.BytesIO()
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        if buf.tell() + len(chunk) > limit:
            raise _too_large(limit_mb)
        sha1.update(chunk)
        sha256.update(chunk)
        buf.write(chunk)
    return buf.getvalue(), sha1, sha256  # getvalue() hands over the buffer without a copy


def _too_large(limit_mb: int) -> ApiError:
    return ApiError("payload_too_large", f"Файл больше допустимого размера: предел {limit_mb} МБ")


def _not_an_image() -> ApiError:
    message = "Файл повреждён или не является изображением JPEG, PNG или WEBP"
    return ApiError("unsupported_media_type", message)
