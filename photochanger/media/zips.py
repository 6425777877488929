"""Streamed ZIP archives of stored results («Скачать все»).

The archive is built while it is sent: files are stored as they are (photos
do not compress), so its size is known up front and no whole archive is ever
held in memory or written to disk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from zipstream import ZIP_STORED, ZipStream

from photochanger.media.images import EXT_BY_MIME
from photochanger.media.storage import MediaStore


@dataclass(frozen=True)
class ZipEntry:
    """One stored result and the moment that names it in the archive."""

    job_id: str
    path: str
    mime: str
    taken_at: dt.datetime


def results_zip(store: MediaStore, entries: Iterable[tuple[str, ZipEntry]]) -> ZipStream:
    """A sized ZIP of ``(prefix, entry)`` whose files still exist, named ``<prefix>_<UTC time>_<job>.<ext>``.

    Names are stable (the same result always gets the same name), so a guest
    who downloads twice gets the same files.
    """
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    for prefix, entry in entries:
        full = store.abspath(entry.path)
        if not store.exists(entry.path):
            continue  # cleaned up since the rows were read
        stamp = entry.taken_at.astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S")
        ext = EXT_BY_MIME.get(entry.mime, "jpg")
        archive.add_path(full, f"{prefix}_{stamp}_{entry.job_id[:8]}.{ext}")
    return archive
