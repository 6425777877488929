"""Files under ``MEDIA_ROOT``: layout, atomic writes, removal.

Layout::

    results/{slot_id}/{job_id}/payload.{ext}   processed image, TTL
    results/{slot_id}/{job_id}/preview.webp    gallery preview, same TTL
    inputs/{slot_id}/{job_id}.{ext}            the booth photo as received, TTL
    arriving/.upload-*                         photos being uploaded (``media.spool``)
    templates/{slot_id}/{media_id}.{ext}       slot template images, no TTL
    provider-media/{media_id}.{ext}            inputs published to URL-fetching providers
    temp/{media_id}.{ext}                      admin test photos, TTL
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable

#: Mode of stored media files (see ``new_media_file``): the owner and nginx's group only.
FILE_MODE = 0o640


class MediaStore:
    """The local-filesystem media backend."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def abspath(self, relpath: str) -> str:
        path = os.path.abspath(os.path.join(self.root, relpath))
        if not path.startswith(self.root + os.sep):
            raise ValueError(f"path escapes MEDIA_ROOT: {relpath}")
        return path

    def write_atomic(self, relpath: str, data: bytes) -> str:
        """Write ``data`` under a temporary name and rename it into place.

        A reader sees either no file or the whole file, never half of one.
        """
        path = self.abspath(relpath)
        fd, tmp = new_media_file(os.path.dirname(path), ".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            unlink_quietly(tmp)
            raise
        return path

    def link_or_copy(self, src_relpath: str, dst_relpath: str) -> str:
        """Publish a file under a second name: a hard link when possible."""
        src, dst = self.abspath(src_relpath), self.abspath(dst_relpath)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
        return dst

    def read(self, relpath: str) -> bytes:
        with open(self.abspath(relpath), "rb") as fh:
            return fh.read()

    def exists(self, relpath: str) -> bool:
        return os.path.exists(self.abspath(relpath))

    def remove(self, relpath: str) -> bool:
        """Remove one file; ``True`` when it existed."""
        return unlink_quietly(self.abspath(relpath))

    def remove_tree(self, relpath: str) -> int:
        """Remove a folder and everything in it; returns the bytes freed.

        One pass: sizes are read from the same directory scan that deletes,
        which halves the filesystem work of a cleanup over 100,000 folders.
        """
        return _remove_tree(self.abspath(relpath))

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
    os.makedirs(directory, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        unlink_quietly(path)
        raise
    return fd, path


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
