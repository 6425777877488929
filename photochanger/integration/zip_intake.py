"""Checking a ZIP batch before anything of it is stored.

The whole archive is refused (a 4xx naming the problem, nothing stored) when it
is not a ZIP, is encrypted, has a name that could escape a folder (absolute, a
``..`` part, a drive letter, a NUL) or a symbolic link, holds an archive, holds
a file that is not a JPEG, PNG or WEBP by its first bytes, holds more photos or
more unpacked bytes than configured, or unpacks out of all proportion to its
size (a ZIP bomb). Folders and the clutter of archivers and file managers
(``__MACOSX/``, hidden files, ``Thumbs.db``) are skipped. A photo that passes
here but is broken inside fails on its own later (see :mod:`.batches`).

The sizes in the ZIP's directory are only claims; :func:`read_member` never
reads more than the claim, so a member that lies about its size is cut short
and fails its CRC check instead of filling the memory.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass
from typing import IO

from photochanger.config import MB
from photochanger.errors import ApiError
from photochanger.media.images import sniff_mime

#: Unpacked/packed ratio above which a member is taken for a bomb: photos are
#: compressed already and barely shrink in a ZIP, so this is generous.
MAX_RATIO = 100
#: Members smaller than this are never taken for a bomb, whatever their ratio.
RATIO_FLOOR = 1 * MB
_HEAD = 512
_ARCHIVE_SUFFIXES = (".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".cab", ".jar")
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"Rar!", b"7z\xbc\xaf", b"\x1f\x8b", b"BZh", b"\xfd7zXZ")
_JUNK_NAMES = {"thumbs.db", "desktop.ini"}
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class BatchLimits:
    max_files: int
    max_unpacked_bytes: int


def open_archive(fileobj: IO[bytes]) -> zipfile.ZipFile:
    """The ZIP in ``fileobj``, or 400 ``bad_zip``."""
    try:
        return zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise ApiError("bad_zip") from None


def photo_members(archive: zipfile.ZipFile, limits: BatchLimits) -> list[zipfile.ZipInfo]:
    """The archive's photos in its order, after every check of the module docstring."""
    photos: list[zipfile.ZipInfo] = []
    unpacked = 0
    for info in archive.infolist():
        name = info.filename
        _check_name(info)
        if info.is_dir() or _is_junk(name):
            continue
        if info.flag_bits & 0x1:
            raise ApiError("bad_zip", "Зашифрованные архивы не принимаются")
        if name.lower().endswith(_ARCHIVE_SUFFIXES):
            raise _nested(name)
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            raise ApiError(
                "zip_bomb",
                f"Файл «{short_name(name)}» распаковывается в {ratio} раз больше себя: похоже на ZIP-бомбу",
            )
        photos.append(info)
        unpacked += info.file_size
        if len(photos) > limits.max_files:
            raise ApiError("zip_too_large", f"В архиве больше {limits.max_files} фото")
        if unpacked > limits.max_unpacked_bytes:
            raise ApiError(
                "zip_too_large", f"Фото в архиве занимают больше {limits.max_unpacked_bytes // MB} МБ"
            )
    if not photos:
        raise ApiError("zip_empty")
    for info in photos:
        head = _head(archive, info)
        if head.startswith(_ARCHIVE_MAGIC) or head[257:262] == b"ustar":
            raise _nested(info.filename)
        if sniff_mime(head[:16]) is None:
            raise ApiError(
                "zip_not_image", f"Файл «{short_name(info.filename)}» не является фото JPEG, PNG или WEBP"
            )
    return photos


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, never more than its declared size; ``BadZipFile`` when they do not check out."""
    with archive.open(info) as fh:
        data = fh.read(info.file_size + 1)
    if len(data) > info.file_size:
        raise zipfile.BadZipFile("member longer than declared")
    return data


def base_name(path: str) -> str:
    """A file name as sent (a member's or a part's) without its folders or control characters."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:255]


def _check_name(info: zipfile.ZipInfo) -> None:
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    unsafe = name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts or "\x00" in name
    if unsafe or stat.S_ISLNK(info.external_attr >> 16):
        raise ApiError(
            "zip_unsafe_name",
            f"Недопустимое имя в архиве: «{short_name(name)}» (путь наружу, абсолютный путь или ссылка)",
        )


def _is_junk(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return "__MACOSX" in parts or parts[-1].startswith(".") or parts[-1].lower() in _JUNK_NAMES


def _head(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        with archive.open(info) as fh:
            return fh.read(_HEAD)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise ApiError("bad_zip", f"Файл «{short_name(info.filename)}» в архиве не читается") from exc


def _nested(name: str) -> ApiError:
    return ApiError("zip_nested", f"Вложенные архивы не принимаются: «{short_name(name)}»")


def short_name(name: str) -> str:
    return name if len(name) <= 80 else name[:77] + "…"
