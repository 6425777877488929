"""The benchmark fills the page cache before its sections, and gives the space back if it cannot."""

from __future__ import annotations

import errno
import os

import pytest

from bench import servers


def test_the_fill_is_a_flushed_file_of_the_size_asked(tmp_path):
    path = tmp_path / "fill"
    assert servers.fill_page_cache(str(path), 3) >= 0
    assert path.stat().st_size == 3 * 1024 * 1024


def test_a_fill_that_runs_out_of_disk_leaves_no_file(tmp_path, monkeypatch):
    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(servers.os, "fdatasync", full)
    path = tmp_path / "fill"
    with pytest.raises(OSError):
        servers.fill_page_cache(str(path), 2)
    assert not os.path.exists(path)
