"""Files and folders the server makes are not readable by other users of the host.

Photos are guests' faces: the server's files are 0640 and its folders 0750
(umask 027); the group is the one nginx reads media with (setgid media root,
or the server user's primary group as in the Docker image).
"""

from __future__ import annotations

import os

#: Bits never granted to "other" users, and never group-write.
RESTRICTED = 0o027


def restrict_umask() -> None:
    """Add :data:`RESTRICTED` to the process umask (a stricter one is kept)."""
    current = os.umask(RESTRICTED)
    os.umask(current | RESTRICTED)


def tighten_sqlite_files(database_path: str | None) -> None:
    """Drop the group-write and "other" bits of a SQLite database made under a looser umask.

    SQLite gives its ``-wal``/``-shm`` files the database file's mode.
    """
    if not database_path:
        return
    for path in (database_path, f"{database_path}-wal", f"{database_path}-shm"):
        try:
            mode = os.stat(path).st_mode & 0o7777
            if mode & RESTRICTED:
                os.chmod(path, mode & ~RESTRICTED)
        except OSError:
            pass  # missing, or not ours to change: SQLite reports real problems itself
