"""Streamed ZIP archives of stored results («Скачать все»).

The archive is built while it is sent: files are stored as they are (photos
do not compress), so its size is known up front and no whole archive is ever
held in memory or written to disk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from zipstream import ZIP_STORED, ZipStream

from photochanger.media.images import EXT_BY_MIME
from photochanger.media.storage import MediaStore

#: Bytes read from the store per block of a streamed archive.
_BLOCK = 256 * 1024


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
    who downloads twice gets the same files. Files on this host's disk are
    read by path; others are streamed from the store while the archive is sent.
    """
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    listed = list(entries)
    sizes = store.sizes([entry.path for _, entry in listed])
    for prefix, entry in listed:
        size = sizes.get(entry.path)
        if size is None:
            continue  # cleaned up since the rows were read
        stamp = entry.taken_at.astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S")
        ext = EXT_BY_MIME.get(entry.mime, "jpg")
        name = f"{prefix}_{stamp}_{entry.job_id[:8]}.{ext}"
        add_stored(archive, store, entry.path, name, size)
    return archive


def add_stored(archive: ZipStream, store: MediaStore, rel: str, name: str, size: int) -> None:
    """Add a stored file: by path when it is on this host's disk, else streamed from the store."""
    local = store.local_path(rel)
    if local is not None:
        archive.add_path(local, name)
    else:
        archive.add(_chunks(store, rel), name, size=size)


def _chunks(store: MediaStore, rel: str) -> Iterator[bytes]:
    """The stored file in blocks, opened only when the archive reaches it."""
    body, _ = store.open(rel)
    with body:
        while chunk := body.read(_BLOCK):
            yield chunk
