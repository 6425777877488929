"""A ``limits`` storage in ``flock``-ed files: counters shared by every worker of a host.

``RATELIMIT_STORAGE_URI=file:///path/to/folder`` (the default is a folder in
``LOCK_DIR``). Keys are spread over a fixed number of small JSON files, so a
flood of distinct keys never creates more files; expired counters are dropped
whenever their file is written. Fixed windows only: that is Flask-Limiter's
default strategy, and the login and ingest throttles fall back to it.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from limits.storage import Storage

from photochanger.infra.locked_file import locked_file

_BUCKETS = 256
#: A counter: [hits, expiry as a UNIX time].
_Entries = dict[str, list[float]]


class FileStorage(Storage):
    """Fixed-window counters in ``_BUCKETS`` JSON files under one folder."""

    STORAGE_SCHEME = ["file"]  # noqa: RUF012 - the registry of limits reads it as declared

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any) -> None:
        path = (uri or "").split("://", 1)[-1]
        if not path.startswith("/"):
            raise ValueError(f"file storage needs an absolute path: {uri!r}")
        self.root = path
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return OSError

    def _bucket(self, key: str) -> str:
        return f"{zlib.crc32(key.encode('utf-8')) % _BUCKETS:02x}.json"

    @contextmanager
    def _locked(self, key: str, write: bool) -> Iterator[tuple[_Entries, IO[str]]]:
        with locked_file(self.root, self._bucket(key), write) as fh:
            yield _load(fh), fh

    def _read(self, key: str) -> list[float] | None:
        with self._locked(key, write=False) as (entries, _fh):
            entry = entries.get(key)
        return entry if entry is not None and entry[1] > time.time() else None

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        with self._locked(key, write=True) as (entries, fh):
            now = time.time()
            live = {k: v for k, v in entries.items() if v[1] > now}
            hits, expires = live.get(key, [0, now + expiry])
            live[key] = [hits + amount, expires]
            _store(fh, live)
        return int(hits + amount)

    def get(self, key: str) -> int:
        entry = self._read(key)
        return int(entry[0]) if entry else 0

    def get_expiry(self, key: str) -> float:
        entry = self._read(key)
        return entry[1] if entry else time.time()

    def clear(self, key: str) -> None:
        with self._locked(key, write=True) as (entries, fh):
            if entries.pop(key, None) is not None:
                _store(fh, entries)

    def check(self) -> bool:
        return os.access(self.root, os.W_OK) or not os.path.exists(self.root)

    def reset(self) -> int | None:
        removed = 0
        for name in os.listdir(self.root) if os.path.isdir(self.root) else []:
            if name.endswith(".json"):
                os.unlink(os.path.join(self.root, name))
                removed += 1
        return removed


def _load(fh: IO[str]) -> _Entries:
    fh.seek(0)
    text = fh.read()
    try:
        data = json.loads(text) if text else {}
    except ValueError:  # cut short by a crash mid-write: the counters start again
        return {}
    return data if isinstance(data, dict) else {}


def _store(fh: IO[str], entries: _Entries) -> None:
    fh.seek(0)
    fh.truncate()
    fh.write(json.dumps(entries, separators=(",", ":")))
    fh.flush()
