"""The booth's photo written to disk while it arrives.

Over a studio's Wi-Fi a 20 MB photo takes seconds to upload, and writing it
to disk once it has all arrived took measurable time (a page cache growing
into fresh memory), all of it between the photo's last
byte and the provider call. Written chunk by chunk as the upload is parsed,
the photo is on disk when its last byte arrives, and storing it is a rename.

The spool is a file in ``arriving/`` under ``MEDIA_ROOT`` (on the local
backend the same filesystem as ``inputs/``, so storing it is an atomic,
cheap rename; on S3 it is the working copy that is uploaded). Once its first
chunk is written it is the only copy of the photo: the upload's checks and the
early shrink read it back (:meth:`InputSpool.reader`), so a request holds no
original in memory while it arrives or waits. A spool that cannot be made
at all leaves the photo in memory as before; one that fails later loses the
upload, which is refused with the disk's error (507 when it is full).
``flask cleanup-media`` removes spools a killed worker left behind.
"""

from __future__ import annotations

import os
import weakref
from typing import IO

from photochanger.media.storage import MediaStore, new_media_file, unlink_quietly

#: Folder of photos still arriving, relative to ``MEDIA_ROOT``.
SPOOL_DIR = "arriving"
_PREFIX = ".upload-"


class InputSpool:
    """One request's photo, appended to a file as its chunks are parsed.

    The event loop calls :meth:`write` per chunk; :meth:`keep` moves the file
    to the photo's stored path, :meth:`discard` removes it. Neither
    :meth:`write` nor :meth:`keep` raises an ``OSError``: a failure ends the spool and the
    caller falls back to writing the photo from memory.
    """

    def __init__(self, store: MediaStore) -> None:
        self.store = store
        #: bytes written so far; ``None`` once the spool was given up
        self.written: int | None = 0
        self.path: str | None = None
        #: why the spool was given up mid-write, if it was
        self.error: OSError | None = None
        self._file: IO[bytes] | None = None
        self._source: weakref.ref[object] | None = None

    def attach(self, source: object) -> bool:
        """Follow the request's first file part only; ``True`` if ``source`` is now followed."""
        if self._source is not None:
            return False
        # Weak: the part holds this spool as its sink, and a strong reference
        # back would be a cycle that keeps the whole photo in the worker until
        # the garbage collector's next full pass.
        self._source = weakref.ref(source)
        return True

    def serves(self, source: object) -> bool:
        """Whether the spool holds ``source``, the file part the ingest chose."""
        return self._source is not None and self._source() is source and self.written is not None

    def write(self, chunk: bytes) -> None:
        """Append a chunk; on any error give the spool up (the photo is still in memory)."""
        written = self.written
        if written is None or not chunk:
            return
        try:
            if self._file is None:
                self._open()
            assert self._file is not None
            view = memoryview(chunk)
            while view:  # unbuffered: each chunk is on disk (in the page cache) when this returns
                done = self._file.write(view)
                if not done:
                    raise OSError("the spool file took no bytes")
                view = view[done:]
        except OSError as exc:
            self.error = exc
            self.discard()
            return
        self.written = written + len(chunk)

    def reader(self) -> IO[bytes] | None:
        """The spool's bytes for reading, by position, while it is still written; ``None`` if gone.

        An open file, so it stays readable once the spool is kept (renamed) or discarded.
        """
        if self.path is None or self.written is None:
            return None
        try:
            return open(self.path, "rb", buffering=0)  # closed once its reader is dropped
        except OSError:
            return None

    def keep(self, relpath: str, size: int) -> bool:
        """Store the spooled photo as ``relpath``; ``False`` when the caller must write it itself.

        ``size`` is the length of the photo as parsed: a spool of any other
        length missed a chunk and is not used. An unreachable store raises
        :class:`~photochanger.errors.StorageUnavailable` (after removing the
        spool): writing from memory instead would only wait for it again.
        """
        if self._file is None or self.written != size:
            self.discard()
            return False
        try:
            self._file.close()
            self._file = None
            self.store.put_file(relpath, self.path or "")
        except OSError as exc:
            self.error = exc
            self.discard()
            return False
        except BaseException:
            self.discard()
            raise
        self.path = None
        self.written = None  # kept: nothing left to write or remove
        return True

    def discard(self) -> None:
        """Give the spool up and remove its file (a no-op once kept or discarded)."""
        self.written = None
        file, self._file = self._file, None
        if file is not None:
            file.close()
        path, self.path = self.path, None
        if path is not None:
            unlink_quietly(path)

    def _open(self) -> None:
        fd, self.path = new_media_file(self.store.work_path(SPOOL_DIR), _PREFIX)
        self._file = os.fdopen(fd, "wb", buffering=0)


def remove_stale_spools(store: MediaStore, older_than: float) -> tuple[int, int]:
    """Remove spools last written before ``older_than`` (a POSIX time); ``(files, bytes)``.

    A live upload writes its spool every few milliseconds while it arrives,
    and a request never lasts longer than its deadline; an older spool was
    left by a worker that was killed mid-upload.
    """
    removed = freed = 0
    try:
        entries = os.scandir(store.work_path(SPOOL_DIR))
    except (FileNotFoundError, NotADirectoryError):
        return 0, 0
    with entries:
        for entry in entries:
            if not entry.name.startswith(_PREFIX):
                continue
            try:
                stat = entry.stat(follow_symlinks=False)
                if stat.st_mtime >= older_than:
                    continue
                os.unlink(entry.path)
            except FileNotFoundError:
                continue  # kept or discarded meanwhile
            removed += 1
            freed += stat.st_size
    return removed, freed
