"""A batch request's photos, a ZIP's members then separate photo parts, checked before any is stored.

The parts follow the ZIP's rules (see :mod:`.zip_intake`): the batch as a
whole is refused when it holds more photos or more bytes than configured, or
a part that is not a JPEG, PNG or WEBP by its first bytes (415
``zip_not_image``, as for a ZIP member); a photo that passes here but is
broken inside fails on its own later. A part with neither a file name nor
bytes is what a browser sends for an empty file input, and is skipped.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import IO

from photochanger.config import MB
from photochanger.errors import ApiError
from photochanger.integration.zip_intake import (
    BatchLimits,
    base_name,
    open_archive,
    photo_members,
    read_member,
    short_name,
)
from photochanger.media.images import sniff_mime

_HEAD = 16


@dataclass(frozen=True)
class BatchPhoto:
    """One photo of a batch: its name, and how to read it when its turn comes."""

    name: str | None
    #: the photo's bytes as a stream; ``zipfile.BadZipFile`` for a member whose bytes do not check out
    open: Callable[[], IO[bytes]]


@dataclass(frozen=True)
class PhotoPart:
    """A ``photos`` part of the form: its file name as sent, and its (spooled) bytes."""

    filename: str | None
    stream: IO[bytes]


def is_blank(filename: str | None, stream: IO[bytes]) -> bool:
    """What a browser sends for a file input left empty: no file name and no bytes."""
    return not filename and _size(stream) == 0


def batch_photos(
    archive: IO[bytes] | None, parts: Sequence[PhotoPart], limits: BatchLimits
) -> list[BatchPhoto]:
    """Every photo of the request in order, after the checks of the module docstring."""
    photos: list[BatchPhoto] = []
    unpacked = 0
    if archive is not None:
        opened = open_archive(archive)
        members = photo_members(opened, limits)
        photos += [BatchPhoto(base_name(info.filename), partial(_member, opened, info)) for info in members]
        unpacked = sum(info.file_size for info in members)
    if len(photos) + len(parts) > limits.max_files:
        raise ApiError("zip_too_large", f"В пакете больше {limits.max_files} фото")
    for part in parts:
        unpacked += _size(part.stream)
        if unpacked > limits.max_unpacked_bytes:
            raise ApiError(
                "zip_too_large", f"Фото в пакете занимают больше {limits.max_unpacked_bytes // MB} МБ"
            )
    for part in parts:
        name = base_name(part.filename or "") or None
        part.stream.seek(0)
        if sniff_mime(part.stream.read(_HEAD)) is None:
            shown = short_name(name or "без имени")
            raise ApiError("zip_not_image", f"Файл «{shown}» не является фото JPEG, PNG или WEBP")
        photos.append(BatchPhoto(name, partial(_rewound, part.stream)))
    return photos


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    return io.BytesIO(read_member(archive, info))


def _rewound(stream: IO[bytes]) -> IO[bytes]:
    stream.seek(0)
    return stream


def _size(stream: IO[bytes]) -> int:
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size
