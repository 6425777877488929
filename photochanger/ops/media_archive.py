"""The media store as one tar, and back: ``MEDIA_ROOT``'s folders, or an S3 bucket's objects.

Stored files only ever appear by rename (``MediaStore.write_atomic``, the spool's
``keep``), so a file is read whole or not at all. Names starting with a dot are files
being written, health probes or a restore in progress, and ``arriving/`` holds uploads
still under way: none of them belong in a backup. Symlinks are stored as links, never
followed; hard links (published provider media) stay hard links.

An S3 bucket is archived object by object, each streamed into the tar (a ``PutObject``
is atomic, so every object is read whole); the tar has the same names as a local one,
so a backup restores into either backend.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from photochanger.media.s3_store import S3MediaStore, StoredObject
from photochanger.media.spool import SPOOL_DIR
from photochanger.media.storage import MediaStore
from photochanger.ops import BackupError

_STAGING_PREFIX = ".restore-"


@dataclass
class MediaCount:
    files: int = 0
    bytes: int = 0


def describe(store: MediaStore) -> str:
    """Where the media live, for the operator."""
    return f"s3://{store.bucket}" if isinstance(store, S3MediaStore) else store.root


def write_store_tar(store: MediaStore, path: str) -> MediaCount:
    """Archive whichever backend holds the media into a new tar at ``path``."""
    if isinstance(store, S3MediaStore):
        return write_bucket_tar(store, path)
    return write_tar(store.root, path)


def extract_store_tar(path: str, store: MediaStore) -> MediaCount:
    """Replace the media of whichever backend by the archive's contents."""
    if isinstance(store, S3MediaStore):
        return extract_tar_to_bucket(path, store)
    return extract_tar(path, store.root)


def store_has_files(store: MediaStore) -> bool:
    if isinstance(store, S3MediaStore):
        return any(_backed_up(o) for o in store.objects())
    return has_files(store.root)


def write_bucket_tar(store: S3MediaStore, path: str) -> MediaCount:
    """Every stored object of the bucket, streamed into a new tar at ``path``."""
    count = MediaCount()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for obj in store.objects():
            if not _backed_up(obj):
                continue
            try:
                body, size = store.open(obj.key)
            except FileNotFoundError:  # removed by a clean-up while we listed
                continue
            info = tarfile.TarInfo(obj.key)
            info.size, info.mtime, info.mode = size, int(obj.modified), 0o640
            with body:
                tar.addfile(info, body)
            count.files += 1
            count.bytes += size
    return count


def extract_tar_to_bucket(path: str, store: S3MediaStore) -> MediaCount:
    """Upload the archive's files to the bucket, then delete the objects it does not hold.

    Names are checked before anything is uploaded, so a hostile or broken
    archive changes nothing.
    """
    count = MediaCount()
    with tarfile.open(path) as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.islnk()]
        for member in members:
            try:
                tarfile.data_filter(member, "/restore")
            except tarfile.FilterError as exc:
                raise BackupError(f"media archive refused: {exc}") from exc
        names = {os.path.normpath(m.name) for m in members}
        for member in members:
            data = tar.extractfile(member)  # a hard link reads its target's bytes
            if data is None:
                continue
            with data:
                store.write_stream(os.path.normpath(member.name), data)
            count.files += 1
            count.bytes += member.size if member.isfile() else 0
    stale = [o.key for o in store.objects() if _backed_up(o) and o.key not in names]
    store.delete_keys(stale)
    return count


def _backed_up(obj: StoredObject) -> bool:
    """An object a backup holds: not an upload in progress or a dot-name."""
    parts = obj.key.split("/")
    return parts[0] != SPOOL_DIR and not any(part.startswith(".") for part in parts)


def write_tar(root: str, path: str) -> MediaCount:
    """Archive the stored files under ``root`` into a new tar at ``path``."""
    count = MediaCount()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry, arcname in _walk(root, ""):
            if entry.is_file(follow_symlinks=False):
                _add_file(tar, entry.path, arcname, count)
            elif entry.is_dir(follow_symlinks=False) or entry.is_symlink():
                try:
                    tar.addfile(tar.gettarinfo(entry.path, arcname))  # lstat: links stay links
                except FileNotFoundError:  # removed by a clean-up while we walked
                    continue
    return count


def has_files(root: str) -> bool:
    """Whether ``root`` holds any stored file (empty folders and temporary files do not count)."""
    return any(not entry.is_dir(follow_symlinks=False) for entry, _ in _walk(root, ""))


def extract_tar(path: str, root: str) -> MediaCount:
    """Replace everything under ``root`` by the archive's contents.

    The archive is unpacked beside the live folders first, then moved into place
    folder by folder, so a broken archive leaves ``root`` as it was.
    """
    os.makedirs(root, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=root)
    try:
        with tarfile.open(path) as tar:
            members = tar.getmembers()
            try:
                tar.extractall(staging, filter="data")
            except tarfile.FilterError as exc:
                raise BackupError(f"media archive refused: {exc}") from exc
        for entry in os.listdir(root):
            if os.path.join(root, entry) != staging:
                _remove(os.path.join(root, entry))
        for entry in os.listdir(staging):
            os.rename(os.path.join(staging, entry), os.path.join(root, entry))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return MediaCount(
        files=sum(1 for m in members if m.isfile() or m.islnk()),
        bytes=sum(m.size for m in members if m.isfile()),
    )


def _walk(root: str, rel: str) -> Iterator[tuple[os.DirEntry[str], str]]:
    """Every entry to back up under ``root``/``rel`` with its archive name, folders before their contents."""
    for entry in _entries(os.path.join(root, rel)):
        arcname = f"{rel}/{entry.name}" if rel else entry.name
        if entry.name.startswith(".") or arcname == SPOOL_DIR:
            continue
        yield entry, arcname
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(root, arcname)


def _add_file(tar: tarfile.TarFile, path: str, arcname: str, count: MediaCount) -> None:
    """One file, its size from the open file: a rename in between cannot tear it."""
    try:
        fh = open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW))
    except FileNotFoundError:  # removed by a clean-up while we walked
        return
    with fh:
        info = tar.gettarinfo(arcname=arcname, fileobj=fh)
        tar.addfile(info, fh if info.isreg() else None)
    count.files += 1
    count.bytes += info.size if info.isreg() else 0


def _entries(folder: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
