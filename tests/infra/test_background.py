"""Deferred work (gallery previews) yields the worker to in-flight ingests."""

from __future__ import annotations

import threading

import gevent
from flask import current_app, has_app_context

from photochanger.extensions import db
from photochanger.infra import background
from photochanger.infra.background import IdleQueue
from photochanger.models import Slot


def test_deferred_job_waits_until_no_ingest_is_in_flight():
    queue = IdleQueue(cooperative=True, quiet_seconds=0)
    ran: list[str] = []
    with queue.busy():
        queue.submit(lambda: ran.append("preview"))
        with queue.busy():  # a second booth arrives meanwhile
            gevent.sleep(0.05)
        gevent.sleep(0.05)
        assert ran == []  # the first ingest is still in flight
    gevent.sleep(0.05)
    assert ran == ["preview"]


def test_deferred_job_waits_for_a_quiet_period_after_the_last_ingest():
    queue = IdleQueue(cooperative=True, quiet_seconds=0.3)
    ran: list[str] = []
    with queue.busy():
        queue.submit(lambda: ran.append("preview"))
    gevent.sleep(0.1)
    with queue.busy():  # the next booth of the burst
        gevent.sleep(0.05)
    gevent.sleep(0.2)
    assert ran == []  # only 0.2 s since the last ingest ended
    gevent.sleep(0.2)
    assert ran == ["preview"]


def test_jobs_submitted_while_idle_run_at_once_and_in_order():
    queue = IdleQueue(cooperative=True, quiet_seconds=0)
    ran: list[int] = []
    for n in range(3):
        queue.submit(lambda n=n: ran.append(n))
    gevent.sleep(0.05)
    assert ran == [0, 1, 2]


def test_queue_is_bounded_and_drops_the_oldest_job():
    queue = IdleQueue(max_pending=2, cooperative=True, quiet_seconds=0)
    ran: list[int] = []
    with queue.busy():
        for n in range(3):
            queue.submit(lambda n=n: ran.append(n))
    gevent.sleep(0.05)
    assert ran == [1, 2]  # the dropped preview is built on its first read instead
    assert queue.dropped == 1


def test_a_failing_job_is_logged_and_the_queue_goes_on(caplog):
    queue = IdleQueue(cooperative=True, quiet_seconds=0)
    ran: list[str] = []

    def broken() -> None:
        raise OSError("disk full")

    queue.submit(broken)
    queue.submit(lambda: ran.append("next"))
    gevent.sleep(0.05)
    assert ran == ["next"]
    assert any(r.getMessage() == "background task failed" for r in caplog.records)


def test_without_an_event_loop_jobs_run_at_once_in_a_thread():
    queue = IdleQueue(cooperative=False)
    done = threading.Event()
    with queue.busy():
        queue.submit(done.set)
        assert done.wait(5)  # threads do not block requests: no reason to wait


def test_in_thread_hands_back_the_result_or_the_exception():
    from photochanger.infra.background import in_thread

    assert in_thread(sum, [1, 2, 3])() == 6

    def broken() -> None:
        raise ValueError("unreadable template")

    wait = in_thread(broken)
    try:
        wait()
    except ValueError as exc:
        assert str(exc) == "unreadable template"
    else:  # pragma: no cover - the wait must raise
        raise AssertionError("the exception was swallowed")


def test_a_job_submitted_in_an_app_context_runs_in_one_of_the_same_app(app, monkeypatch):
    monkeypatch.setattr(background, "_queue", IdleQueue(cooperative=False))
    seen = []
    done = threading.Event()

    def job():
        seen.append((current_app._get_current_object(), db.session.get(Slot, "slot-001") is not None))
        done.set()

    with app.app_context():
        background.when_idle(job)
    assert done.wait(5)
    assert seen == [(app, True)]


def test_a_job_submitted_outside_an_app_context_runs_as_it_is(monkeypatch):
    monkeypatch.setattr(background, "_queue", IdleQueue(cooperative=False))
    seen = []
    done = threading.Event()
    background.when_idle(lambda: (seen.append(has_app_context()), done.set()))
    assert done.wait(5)
    assert seen == [False]


def test_memory_is_released_once_per_quiet_spell_after_ingests():
    released: list[float] = []
    queue = IdleQueue(cooperative=True, quiet_seconds=0, trim=lambda: released.append(1), trim_after=0.1)
    with queue.busy():
        queue.submit(lambda: None)
    gevent.sleep(0.05)
    assert released == []  # not quiet long enough yet
    gevent.sleep(0.1)
    assert released == [1]
    gevent.sleep(0.2)
    assert released == [1]  # nothing was freed since: no second trim
    with queue.busy():
        pass
    gevent.sleep(0.15)
    assert released == [1, 1]


def test_memory_is_not_released_while_an_ingest_is_in_flight():
    released: list[float] = []
    queue = IdleQueue(cooperative=True, quiet_seconds=0, trim=lambda: released.append(1), trim_after=0.05)
    with queue.busy():
        with queue.busy():
            pass
        gevent.sleep(0.2)  # the other booth's ingest goes on
        assert released == []
    gevent.sleep(0.1)
    assert released == [1]


def test_releasing_free_memory_gives_the_freed_heap_back():
    blocks = [bytearray(b"x" * 65536) for _ in range(2000)]  # 128 MB in heap-sized pieces
    keep = blocks[::16]  # one in sixteen stays: the freed rest is fragmented, not trimmed by free()
    del blocks
    held = _rss_kb()
    background.release_free_memory()
    assert _rss_kb() < held - 64 * 1024
    assert len(keep) == 125


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
