"""ZIP archives for batch tests: good ones, and the set every batch endpoint must refuse."""

from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass

from tests.support.images import jpeg_bytes, noisy_jpeg, png_bytes

#: Batch limits of the tests' servers (BATCH_MAX_FILES, BATCH_MAX_UNPACKED_MB): small enough to go over.
MAX_FILES, MAX_UNPACKED_MB = 6, 2


def make_zip(members: list[tuple[str, bytes]], *, symlink: str | None = None) -> bytes:
    """A deflated ZIP of ``(name, bytes)``; ``symlink`` adds a symbolic-link member of that name."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return out.getvalue()


def photos(count: int, start: int = 0) -> list[tuple[str, bytes]]:
    """``count`` small distinct JPEGs named ``IMG_<n>.jpg``."""
    return [(f"IMG_{n:04d}.jpg", jpeg_bytes(64 + n, 48)) for n in range(start, start + count)]


@dataclass(frozen=True)
class BadZip:
    label: str
    data: bytes
    status: int
    reason: str


def bad_zips(max_files: int, max_unpacked_mb: int) -> list[BadZip]:
    """Archives a batch must refuse whole, for a server with these limits."""
    good = photos(2)
    inner = make_zip(photos(1))
    big = noisy_jpeg(1400, 1000)
    over_bytes = [(f"big_{n}.jpg", big) for n in range(max_unpacked_mb * 1024 * 1024 // len(big) + 1)]
    return [
        BadZip("not a zip", jpeg_bytes(64, 48), 400, "bad_zip"),
        BadZip("empty", make_zip([("notes/", b"")]), 400, "zip_empty"),
        BadZip(
            "traversal", make_zip([*good, ("../../etc/evil.jpg", jpeg_bytes(64, 48))]), 400, "zip_unsafe_name"
        ),
        BadZip("absolute", make_zip([("/tmp/evil.jpg", jpeg_bytes(64, 48))]), 400, "zip_unsafe_name"),
        BadZip("windows drive", make_zip([("C:\\evil.jpg", jpeg_bytes(64, 48))]), 400, "zip_unsafe_name"),
        BadZip("symlink", make_zip(good, symlink="link.jpg"), 400, "zip_unsafe_name"),
        BadZip("nested by name", make_zip([*good, ("more.zip", inner)]), 400, "zip_nested"),
        BadZip("nested in disguise", make_zip([*good, ("photo.jpg", inner)]), 400, "zip_nested"),
        BadZip("not an image", make_zip([*good, ("notes.txt", b"hello " * 50)]), 415, "zip_not_image"),
        BadZip(
            "bomb",
            make_zip([*good, ("huge.jpg", b"\xff\xd8\xff" + bytes(40 * 1024 * 1024))]),
            413,
            "zip_bomb",
        ),
        BadZip("too many files", make_zip(photos(max_files + 1)), 413, "zip_too_large"),
        BadZip("too many bytes", make_zip(over_bytes), 413, "zip_too_large"),
        BadZip(
            "png among them is fine but a pdf is not",
            make_zip([("a.png", png_bytes()), ("b.pdf", b"%PDF-1.4")]),
            415,
            "zip_not_image",
        ),
    ]
