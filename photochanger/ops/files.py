"""Backup files appear whole or not at all: written under a partial name, synced, renamed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from photochanger.media.storage import unlink_quietly

PARTIAL_PREFIX = ".partial-"


@contextmanager
def published(final: str) -> Iterator[str]:
    """Yields a partial path next to ``final`` to write; renames it to ``final`` on success."""
    folder, name = os.path.split(final)
    partial = os.path.join(folder, PARTIAL_PREFIX + name)
    try:
        yield partial
        fsync_path(partial)
        os.replace(partial, final)
        fsync_path(folder)
    finally:
        unlink_quietly(partial)


def fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
