"""A small state file opened under ``flock``: how the workers of a host share a few values."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO


@contextmanager
def locked_file(root: str, name: str, write: bool) -> Iterator[IO[str]]:
    """``root/name`` (made with its folder if missing, mode 0600) open for reading and
    writing, held under an exclusive ``flock`` when ``write`` else a shared one."""
    path = os.path.join(root, name)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        os.makedirs(root, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    with open(fd, "r+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        yield fh
