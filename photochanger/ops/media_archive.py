"""``MEDIA_ROOT`` as one tar, and back.

Stored files only ever appear by rename (``MediaStore.write_atomic``, the spool's
``keep``), so a file is read whole or not at all. Names starting with a dot are files
being written, health probes or a restore in progress, and ``arriving/`` holds uploads
still under way: none of them belong in a backup. Symlinks are stored as links, never
followed; hard links (published provider media) stay hard links.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from photochanger.media.spool import SPOOL_DIR
from photochanger.ops import BackupError

_STAGING_PREFIX = ".restore-"


@dataclass
class MediaCount:
    files: int = 0
    bytes: int = 0


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
