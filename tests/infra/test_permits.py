"""Host-wide permits: at most N holders, and a cheap search for a free one."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from photochanger.infra import permits as concurrency
from photochanger.infra.permits import HostMutex, try_acquire


def _hold_in_other_process(lock_dir: str, name: str, limit: int, count: int, ready, done) -> None:
    leases = [try_acquire(lock_dir, name, limit) for _ in range(count)]
    assert all(leases)
    ready.set()
    done.wait(10)


@pytest.fixture
def other_process(tmp_path):
    """Hold ``count`` permits in a separate process, like another gunicorn worker."""
    ctx = multiprocessing.get_context("fork")
    started = []

    def start(name: str, limit: int, count: int) -> multiprocessing.process.BaseProcess:
        ready, done = ctx.Event(), ctx.Event()
        args = (str(tmp_path), name, limit, count, ready, done)
        proc = ctx.Process(target=_hold_in_other_process, args=args)
        proc.start()
        assert ready.wait(10)
        started.append((proc, done))
        return proc

    yield start
    for proc, done in started:
        if proc.is_alive():  # a killed holder would never acknowledge the wake-up
            done.set()
        proc.join(10)


def test_no_more_than_limit_permits_are_given_out(tmp_path):
    leases = [try_acquire(str(tmp_path), "slot-001", 3) for _ in range(3)]
    assert all(leases)
    assert try_acquire(str(tmp_path), "slot-001", 3) is None
    leases[1].release()
    again = try_acquire(str(tmp_path), "slot-001", 3)
    assert again is not None
    assert try_acquire(str(tmp_path), "slot-001", 3) is None


def test_permits_held_by_another_worker_count_against_the_limit(tmp_path, other_process):
    other_process("provider-gemini", 5, 4)
    mine = try_acquire(str(tmp_path), "provider-gemini", 5)
    assert mine is not None
    assert try_acquire(str(tmp_path), "provider-gemini", 5) is None


def test_a_dead_worker_leaks_no_permit(tmp_path, other_process):
    proc = other_process("slot-001", 1, 1)
    assert try_acquire(str(tmp_path), "slot-001", 1) is None
    proc.kill()
    proc.join(10)
    assert try_acquire(str(tmp_path), "slot-001", 1) is not None


def test_a_zero_limit_gives_nothing(tmp_path):
    assert try_acquire(str(tmp_path), "slot-001", 0) is None


def test_the_lock_folder_is_created_when_missing_and_recreated_when_removed(tmp_path):
    lock_dir = tmp_path / "locks"
    lease = try_acquire(str(lock_dir), "slot-001", 1)
    assert lease is not None and lock_dir.is_dir()
    lease.release()
    for path in lock_dir.iterdir():
        path.unlink()
    lock_dir.rmdir()
    assert try_acquire(str(lock_dir), "slot-001", 1) is not None


def test_a_burst_does_not_probe_every_permit_held_before_it(tmp_path, monkeypatch):
    """The n-th of n concurrent requests once opened n lock files to find a free one."""
    opened = []
    real_open = os.open
    monkeypatch.setattr(
        concurrency.os, "open", lambda path, *a, **kw: (opened.append(path), real_open(path, *a, **kw))[1]
    )
    leases = [try_acquire(str(tmp_path), "provider-gemini", 2000) for _ in range(1000)]
    assert all(leases)
    assert len(set(id(lease) for lease in leases)) == 1000
    # skipping this worker's own permits: every open found a free one
    assert len(opened) == 1000
    for lease in leases:
        lease.release()


def test_a_generous_limit_does_not_scatter_lock_files_at_low_concurrency(tmp_path):
    """Each new lock file is an inode; a limit of 2000 must not mean 2000 files for one booth."""
    for _ in range(300):
        lease = try_acquire(str(tmp_path), "provider-gemini", 2000)
        assert lease is not None
        lease.release()
    assert len(os.listdir(tmp_path)) <= 16


def test_every_permit_of_a_generous_limit_can_still_be_taken(tmp_path):
    leases = [try_acquire(str(tmp_path), "slot-001", 40) for _ in range(40)]
    assert all(leases)
    assert try_acquire(str(tmp_path), "slot-001", 40) is None
    for lease in leases:
        lease.release()


def test_released_permits_can_be_taken_again_by_the_same_worker(tmp_path):
    for _ in range(5):
        leases = [try_acquire(str(tmp_path), "slot-001", 2) for _ in range(2)]
        assert all(leases)
        assert try_acquire(str(tmp_path), "slot-001", 2) is None
        for lease in leases:
            lease.release()


def test_host_mutex_excludes_a_second_holder(tmp_path):
    with HostMutex(str(tmp_path), "idem-slot-001"):
        assert try_acquire(str(tmp_path), "idem-slot-001", 1) is None
    assert try_acquire(str(tmp_path), "idem-slot-001", 1) is not None
