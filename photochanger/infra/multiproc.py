"""The Prometheus multiprocess folder, prepared by the gunicorn master.

Kept apart from :mod:`.metrics` on purpose: importing that module creates the
metrics, which in multiprocess mode opens files in this very folder.
"""

from __future__ import annotations

import contextlib
import os

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def default_multiproc_dir(instance_path: str) -> str:
    return os.path.join(instance_path, "prometheus-multiproc")


def prepare_multiproc_dir(path: str) -> str:
    """Create ``path`` without metric files: a previous master's would be summed forever.

    Only ``*.db`` files are removed, so a mistyped path never costs other files.
    """
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(path, name))
    return path


def mark_worker_dead(pid: int) -> None:
    """gunicorn ``child_exit``: drop the dead worker's live gauges (``livesum``)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid)
