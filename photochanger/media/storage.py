"""Stored media: the layout, the backend interface and the local-filesystem backend.

Layout (keys relative to the store: paths under ``MEDIA_ROOT`` on the local
backend, object keys in the bucket on the S3 one, ``media.s3_store``)::

    results/{slot_id}/{job_id}/payload.{ext}   processed image, TTL
    results/{slot_id}/{job_id}/preview.webp    gallery preview, same TTL
    inputs/{slot_id}/{job_id}.{ext}            the booth photo as received, TTL
    arriving/.upload-*                         photos being uploaded (``media.spool``), always local
    templates/{slot_id}/{media_id}.{ext}       slot template images, no TTL
    provider-media/{media_id}.{ext}            inputs published to URL-fetching providers
    temp/{media_id}.{ext}                      admin test photos, TTL

Every backend shows a reader the whole file or none of it, reports a missing
file as :class:`FileNotFoundError` and an unreachable store as
:class:`~photochanger.errors.StorageUnavailable`.
"""

from __future__ import annotations

import abc
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, NamedTuple, TypeVar

_T = TypeVar("_T")

#: Mode of stored media files (see ``new_media_file``): the owner and nginx's group only.
FILE_MODE = 0o640
#: Threads removing one clean-up batch on the local disk: the time is spent in
#: unlink/rmdir system calls, which release the GIL and wait on the disk's journal in parallel.
REMOVE_THREADS = 8
#: Tries at making a folder and creating an entry in it: a clean-up pruning
#: empty folders may remove it in between (each retry needs another such removal).
FOLDER_RACE_TRIES = 5


class Removal(NamedTuple):
    """One claimed media's files for :meth:`MediaStore.remove_many`."""

    #: a file, or (with ``names``) a folder
    path: str
    #: the files expected in the folder (empty: whatever it holds); ``None`` when ``path`` is a file
    names: tuple[str, ...] | None
    #: the size the database recorded (what a backend that cannot cheaply tell reports as freed)
    size: int


class Removed(NamedTuple):
    freed: int
    existed: bool


class MediaStore(abc.ABC):
    """What callers need of stored media, whichever backend holds it.

    ``root`` is always a local folder: the media itself on the local backend,
    working copies (photos still arriving) on the others.
    """

    kind: str
    root: str

    def work_path(self, relpath: str) -> str:
        """A path under the local working folder ``root`` (never a stored file on remote backends)."""
        path = os.path.abspath(os.path.join(self.root, relpath))
        if path != self.root and not path.startswith(self.root + os.sep):
            raise ValueError(f"path escapes MEDIA_ROOT: {relpath}")
        return path

    def local_path(self, relpath: str) -> str | None:
        """The stored file's path on this host's disk, or ``None`` when it lives elsewhere."""
        return None

    @abc.abstractmethod
    def write_atomic(self, relpath: str, data: bytes) -> None:
        """Store ``data``: a reader sees either nothing or all of it, never half."""

    def write_opened(self, relpath: str, data: bytes) -> tuple[BinaryIO, int]:
        """:meth:`write_atomic`, then the stored bytes opened for an answer, and their size."""
        self.write_atomic(relpath, data)
        return self.open(relpath)

    @abc.abstractmethod
    def put_file(self, relpath: str, local_file: str) -> None:
        """Store a finished file from the working folder; the local file is gone afterwards."""

    @abc.abstractmethod
    def link_or_copy(self, src_relpath: str, dst_relpath: str) -> None:
        """Publish a stored file under a second name."""

    @abc.abstractmethod
    def open(self, relpath: str) -> tuple[BinaryIO, int]:
        """The stored file opened for reading (the caller closes it), and its size."""

    def read(self, relpath: str) -> bytes:
        body, _ = self.open(relpath)
        with body:
            return body.read()

    @abc.abstractmethod
    def size(self, relpath: str) -> int | None:
        """The stored file's size, ``None`` when it does not exist."""

    def exists(self, relpath: str) -> bool:
        return self.size(relpath) is not None

    def sizes(self, relpaths: Sequence[str]) -> dict[str, int]:
        """The sizes of those of ``relpaths`` that exist."""
        found = {rel: self.size(rel) for rel in relpaths}
        return {rel: size for rel, size in found.items() if size is not None}

    @abc.abstractmethod
    def remove(self, relpath: str) -> bool:
        """Remove one file; ``True`` when it existed (or the backend cannot tell)."""

    @abc.abstractmethod
    def remove_tree(self, relpath: str) -> int:
        """Remove a folder and everything in it; returns the bytes freed."""

    @abc.abstractmethod
    def remove_many(self, removals: Sequence[Removal]) -> list[Removed]:
        """Remove one clean-up batch, in as few operations as the backend allows."""

    def prune_empty_parents(self, relpath: str) -> None:  # noqa: B027 - a no-op unless overridden
        """Remove now-empty folders above ``relpath`` (backends without folders have none)."""

    def remove_empty_folder(self, relpath: str) -> None:  # noqa: B027 - a no-op unless overridden
        """Remove ``relpath`` if it is an empty folder (backends without folders have none)."""

    @abc.abstractmethod
    def subfolders(self, relpath: str) -> list[str]:
        """Names of the folders directly under ``relpath``, sorted; empty when there is none."""

    @abc.abstractmethod
    def modified_at(self, relpath: str) -> float:
        """POSIX time of the last write to the folder ``relpath``; infinity when it does not exist."""

    def presigned_url(self, relpath: str, download_name: str, mime: str) -> str | None:
        """A short-lived URL that downloads the file without the app; ``None`` on the local disk."""
        return None

    def check(self) -> dict[str, object]:
        """The ``/healthz`` check of the backend itself (the working folder is probed apart)."""
        return {"status": "ok", "backend": self.kind}


class LocalMediaStore(MediaStore):
    """Media files under ``MEDIA_ROOT`` on this host's disk."""

    kind = "local"

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def abspath(self, relpath: str) -> str:
        path = os.path.abspath(os.path.join(self.root, relpath))
        if not path.startswith(self.root + os.sep):
            raise ValueError(f"path escapes MEDIA_ROOT: {relpath}")
        return path

    def local_path(self, relpath: str) -> str | None:
        return self.abspath(relpath)

    def write_atomic(self, relpath: str, data: bytes) -> None:
        """Write ``data`` under a temporary name and rename it into place."""
        path = self.abspath(relpath)
        fd, tmp = new_media_file(os.path.dirname(path), ".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            unlink_quietly(tmp)
            raise

    def put_file(self, relpath: str, local_file: str) -> None:
        """A rename: the working folder is ``MEDIA_ROOT`` itself, one filesystem."""
        target = self.abspath(relpath)
        in_made_folder(os.path.dirname(target), lambda: os.replace(local_file, target))

    def link_or_copy(self, src_relpath: str, dst_relpath: str) -> None:
        """A hard link when possible."""
        src, dst = self.abspath(src_relpath), self.abspath(dst_relpath)

        def link() -> None:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)  # a missing folder or source fails here the same way

        in_made_folder(os.path.dirname(dst), link)

    def open(self, relpath: str) -> tuple[BinaryIO, int]:
        """A real file, so gunicorn can hand it to ``sendfile``."""
        body = open(self.abspath(relpath), "rb")  # closed by the caller
        return body, os.fstat(body.fileno()).st_size

    def read(self, relpath: str) -> bytes:
        with open(self.abspath(relpath), "rb") as fh:
            return fh.read()

    def size(self, relpath: str) -> int | None:
        try:
            return os.stat(self.abspath(relpath)).st_size
        except OSError:
            return None

    def exists(self, relpath: str) -> bool:
        return os.path.exists(self.abspath(relpath))

    def remove(self, relpath: str) -> bool:
        return unlink_quietly(self.abspath(relpath))

    def remove_tree(self, relpath: str) -> int:
        """One pass: sizes are read from the same directory scan that deletes,
        which halves the filesystem work of a cleanup over 100,000 folders.
        """
        return _remove_tree(self.abspath(relpath))

    def remove_many(self, removals: Sequence[Removal]) -> list[Removed]:
        with ThreadPoolExecutor(max_workers=REMOVE_THREADS) as pool:
            return list(pool.map(self._remove_one, removals))

    def _remove_one(self, removal: Removal) -> Removed:
        if removal.names is not None:
            freed = self.remove_folder(removal.path, removal.names)
            return Removed(freed, freed > 0)
        try:
            freed = os.path.getsize(self.abspath(removal.path))
        except OSError:
            freed = 0
        return Removed(freed, self.remove(removal.path))

    def remove_folder(self, relpath: str, names: Iterable[str]) -> int:
        """Remove a folder whose files are known by name; returns the bytes freed.

        Unlinking the expected names, then the folder, skips the directory scan
        (a third of a cleanup's system calls). A file nobody expected makes the
        final ``rmdir`` fail, and the folder is then removed whole as by
        :meth:`remove_tree`.
        """
        path = self.abspath(relpath)
        freed = 0
        for name in names:
            file = os.path.join(path, name)
            try:
                freed += os.lstat(file).st_size
                os.unlink(file)
            except FileNotFoundError:
                continue
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError:
            freed += _remove_tree(path)
        return freed

    def prune_empty_parents(self, relpath: str) -> None:
        """Remove now-empty folders above ``relpath`` up to the kind folder."""
        directory = os.path.dirname(self.abspath(relpath))
        while directory.startswith(self.root + os.sep) and os.path.dirname(directory) != self.root:
            try:
                os.rmdir(directory)
            except OSError:
                return
            directory = os.path.dirname(directory)

    def remove_empty_folder(self, relpath: str) -> None:
        try:
            os.rmdir(self.abspath(relpath))
        except OSError:
            pass  # not empty, or gone

    def subfolders(self, relpath: str) -> list[str]:
        try:
            with os.scandir(self.abspath(relpath)) as entries:
                return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
        except (OSError, ValueError):
            return []

    def modified_at(self, relpath: str) -> float:
        try:
            return os.stat(self.abspath(relpath)).st_mtime
        except (OSError, ValueError):
            return float("inf")


def _remove_tree(path: str) -> int:
    freed = 0
    try:
        entries = os.scandir(path)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    with entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                freed += _remove_tree(entry.path)
                continue
            try:
                freed += entry.stat(follow_symlinks=False).st_size
            except OSError:
                pass
            unlink_quietly(entry.path)
    try:
        os.rmdir(path)
    except OSError:
        pass  # a concurrent writer added a file, or another run removed the folder
    return freed


def new_media_file(directory: str, prefix: str) -> tuple[int, str]:
    """A new empty file in ``directory`` (made if missing), named ``prefix`` + random: ``(fd, path)``.

    mkstemp makes 0600 files; nginx (another user) serves media from disk via
    X-Accel-Redirect, so the file is made readable by the group. Keep
    MEDIA_ROOT itself 2750 app:nginx-group (setgid: new files get that group).
    """
    fd, path = in_made_folder(directory, lambda: tempfile.mkstemp(prefix=prefix, dir=directory))
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        unlink_quietly(path)
        raise
    return fd, path


def in_made_folder(directory: str, create: Callable[[], _T]) -> _T:
    """Make ``directory`` and run ``create`` (which adds an entry to it); its result.

    Clean-up removes folders it has just emptied (``prune_empty_parents``), so
    a folder made a moment ago may be gone when the entry is created: that
    :class:`FileNotFoundError` means "make it again". So does ``makedirs``'
    :class:`FileExistsError`: it raises it when the folder its ``mkdir`` found
    is gone by the time it checks that it is a folder. Once the entry exists
    the folder is no longer empty and stays.
    """
    for _ in range(FOLDER_RACE_TRIES - 1):
        try:
            os.makedirs(directory, exist_ok=True)
            return create()
        except (FileNotFoundError, FileExistsError):
            continue
    os.makedirs(directory, exist_ok=True)
    return create()


def unlink_quietly(path: str) -> bool:
    """Remove one file; ``True`` when it existed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def result_dir(slot_id: str, job_id: str) -> str:
    return f"results/{slot_id}/{job_id}"


def result_path(slot_id: str, job_id: str, ext: str) -> str:
    return f"{result_dir(slot_id, job_id)}/payload.{ext}"


def preview_path(slot_id: str, job_id: str) -> str:
    return f"{result_dir(slot_id, job_id)}/preview.webp"


def input_path(slot_id: str, job_id: str, ext: str) -> str:
    return f"inputs/{slot_id}/{job_id}.{ext}"


def template_path(slot_id: str, media_id: str, ext: str) -> str:
    return f"templates/{slot_id}/{media_id}.{ext}"


def provider_media_path(media_id: str, ext: str) -> str:
    return f"provider-media/{media_id}.{ext}"
