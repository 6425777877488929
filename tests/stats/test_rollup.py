"""Per-day roll-ups behind ``/api/stats/overview``: always equal to a plain recount.

Every test compares the overview built from roll-ups with the one built from
the raw ``job_history`` rows alone, after the changes that could break a
roll-up: late inserts into a rolled-up day, deletes (retention), status
changes, markers moving between the two reads.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, update

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.models import JobDayRollup, JobHistory, JobRollupDay
from photochanger.stats import overview as overview_module
from photochanger.stats import rollup
from photochanger.stats.overview import overview

pytestmark = pytest.mark.db

WINDOWS = (1, 60, 1440, 3 * 1440 + 7, 10080)
STATUSES = ("done", "done", "done", "failed", "timeout", "pending")
REASONS = {"failed": ("quota", "internal", "provider_5xx"), "timeout": ("timeout",)}
#: other offsets than UTC: the day of a job is its UTC day whatever zone it was written in
ZONES = (dt.UTC, dt.timezone(dt.timedelta(hours=5)), dt.timezone(dt.timedelta(hours=-7)))


@pytest.fixture
def ctx(app: Flask) -> Iterator[dt.datetime]:
    with app.app_context():
        yield utcnow()


def _job(started: dt.datetime, rng: random.Random) -> JobHistory:
    status = rng.choice(STATUSES)
    provided = rng.random() < 0.7
    return JobHistory(
        job_id=uuid.uuid4().hex,
        slot_id=f"slot-{rng.randint(1, 15):03d}",
        status=status,
        source="ui_test" if rng.random() < 0.1 else "ingest",
        provider_id="local",
        operation="filter",
        slot_version=1,
        started_at=started.astimezone(rng.choice(ZONES)),
        finished_at=started + dt.timedelta(seconds=3),
        failure_reason=rng.choice(REASONS[status]) if status in REASONS else None,
        hash_provided=provided,
        hash_matched=(rng.random() < 0.8) if provided else None,
    )


def _seed(
    now: dt.datetime, count: int = 400, days: int = 9, seed: int = 7, *, as_of_old_schema: bool = False
) -> None:
    """Random jobs over ``days``; ``as_of_old_schema`` writes only the columns set (a downgraded table)."""
    rng = random.Random(seed)
    jobs = [_job(now - dt.timedelta(seconds=rng.uniform(0, days * 86400)), rng) for _ in range(count)]
    # Edges: on a UTC midnight, a microsecond either side of it, and just now.
    midnight = dt.datetime.combine(now.date() - dt.timedelta(days=2), dt.time(), tzinfo=dt.UTC)
    for offset in (dt.timedelta(0), dt.timedelta(microseconds=-1), dt.timedelta(microseconds=1)):
        jobs.append(_job(midnight + offset, rng))
    jobs.append(_job(now - dt.timedelta(seconds=1), rng))
    if as_of_old_schema:
        for job in jobs:
            db.session.execute(JobHistory.__table__.insert().values(**_columns(job)))
    else:
        db.session.add_all(jobs)
    db.session.commit()


def _plain(window: int, now: dt.datetime, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The overview from raw rows only (no roll-up read, none written)."""
    with monkeypatch.context() as mp:
        mp.setattr(overview_module, "roll_up_closed_days", lambda now: 0)
        mp.setattr(overview_module, "window_counts", lambda since: rollup._read(since, [])[:2])
        return overview(window, now)


def _assert_exact(now: dt.datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    for window in WINDOWS:
        assert overview(window, now) == _plain(window, now, monkeypatch), window


def _marked() -> list[dt.date]:
    return list(db.session.execute(select(JobRollupDay.day).order_by(JobRollupDay.day)).scalars())


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def test_closed_days_are_rolled_up_once_and_counts_stay_exact(ctx, monkeypatch):
    now = ctx
    _seed(now)
    _assert_exact(now, monkeypatch)
    marked = _marked()
    first = db.session.execute(select(func.min(JobHistory.started_at))).scalar_one()
    last_closed = (now - rollup.GRACE).date() - dt.timedelta(days=1)
    assert marked[0] == first.astimezone(dt.UTC).date() and marked[-1] == last_closed
    assert len(marked) == (last_closed - marked[0]).days + 1  # days without jobs are marked too
    assert rollup.roll_up_closed_days(now) == 0  # nothing left to do, nothing counted twice
    rolled = db.session.execute(select(func.sum(JobDayRollup.jobs))).scalar_one()
    raw = db.session.execute(
        select(func.count()).where(JobHistory.started_at < _day_start(last_closed + dt.timedelta(days=1)))
    ).scalar_one()
    assert rolled == raw


def test_a_day_is_not_rolled_up_while_its_jobs_may_still_run(ctx):
    midnight = _day_start(ctx.date())
    yesterday = ctx.date() - rollup.DAY
    _seed(midnight, count=50, days=1)
    rollup.roll_up_closed_days(midnight + rollup.GRACE - dt.timedelta(seconds=1))
    assert yesterday not in _marked()
    rollup.roll_up_closed_days(midnight + rollup.GRACE)
    assert _marked()[-1] == yesterday


def test_a_late_insert_into_a_rolled_up_day_unmarks_it(ctx, monkeypatch):
    now = ctx
    _seed(now)
    overview(60, now)
    day = now.date() - dt.timedelta(days=3)
    assert day in _marked()
    db.session.add(_job(_day_start(day) + dt.timedelta(hours=23, minutes=59), random.Random(1)))
    db.session.commit()
    assert day not in _marked()
    _assert_exact(now, monkeypatch)  # read raw, then rolled up again
    assert day in _marked()


def test_retention_deletes_unmark_their_days(ctx, monkeypatch):
    now = ctx
    _seed(now)
    overview(60, now)
    cutoff = now - dt.timedelta(days=5, hours=7)  # mid-day: one day keeps part of its rows
    db.session.execute(delete(JobHistory).where(JobHistory.started_at < cutoff))
    db.session.commit()
    assert _marked()[0] > cutoff.date()
    _assert_exact(now, monkeypatch)


def test_counted_changes_unmark_a_day_and_other_changes_do_not(ctx, monkeypatch):
    now = ctx
    _seed(now)
    overview(60, now)
    day = now.date() - dt.timedelta(days=4)
    in_day = (JobHistory.started_at >= _day_start(day), JobHistory.started_at < _day_start(day) + rollup.DAY)
    db.session.execute(update(JobHistory).where(*in_day).values(result_path="elsewhere"))
    db.session.commit()
    assert day in _marked()
    one = db.session.execute(select(JobHistory.job_id).where(*in_day).limit(1)).scalar_one()
    db.session.execute(
        update(JobHistory).where(JobHistory.job_id == one).values(status="failed", failure_reason="network")
    )
    db.session.commit()
    assert day not in _marked()
    _assert_exact(now, monkeypatch)


def test_a_job_moved_to_another_day_unmarks_both(ctx, monkeypatch):
    now = ctx
    _seed(now)
    overview(60, now)
    old, new = now.date() - dt.timedelta(days=6), now.date() - dt.timedelta(days=2)
    one = (
        db.session.execute(
            select(JobHistory.job_id)
            .where(JobHistory.started_at >= _day_start(old))
            .order_by(JobHistory.started_at)
        )
        .scalars()
        .first()
    )
    db.session.execute(
        update(JobHistory)
        .where(JobHistory.job_id == one)
        .values(started_at=_day_start(new) + dt.timedelta(hours=1))
    )
    db.session.commit()
    assert old not in _marked() and new not in _marked()
    _assert_exact(now, monkeypatch)


def test_markers_moving_between_the_reads_are_detected(ctx, monkeypatch):
    now = ctx
    _seed(now)
    overview(60, now)
    stale = _marked()
    # A marker is dropped after the caller read them: the rolled counts of that day
    # are no longer joined, and the raw read skips it; the check must catch it.
    db.session.execute(delete(JobRollupDay).where(JobRollupDay.day == stale[-2]))
    db.session.commit()
    monkeypatch.setattr(rollup, "_marked_days", lambda: stale)
    for window in WINDOWS:
        since = now - dt.timedelta(minutes=window)
        assert rollup._read(since, stale)[2] != stale
        with monkeypatch.context() as mp:
            mp.setattr(overview_module, "roll_up_closed_days", lambda now: 0)
            assert overview(window, now) == _plain(window, now, monkeypatch)


def test_a_second_roll_up_rechecks_the_markers_under_the_lock(ctx, monkeypatch):
    now = ctx
    _seed(now)
    rolled = rollup.roll_up_closed_days(now)
    assert rolled > 0
    # As if another worker had read the markers before the first one committed.
    monkeypatch.setattr(rollup, "_marked_days", lambda: [])
    assert rollup.roll_up_closed_days(now) == 0
    monkeypatch.undo()
    _assert_exact(now, monkeypatch)


def test_an_empty_history_rolls_nothing(ctx, monkeypatch):
    assert rollup.roll_up_closed_days(ctx) == 0
    _assert_exact(ctx, monkeypatch)


def test_migration_0003_downgrades_and_upgrades(ctx, monkeypatch):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect

    _seed(ctx, count=30)
    overview(60, ctx)
    db.session.remove()
    downgrade(revision="0002")
    assert not {"job_rollup_day", "job_day_rollup"} & set(inspect(db.engine).get_table_names())
    _seed(
        ctx, count=5, seed=8, as_of_old_schema=True
    )  # no trigger is left behind to trip over the missing tables
    upgrade()
    assert _marked() == []
    _assert_exact(ctx, monkeypatch)
    assert _marked()


def test_a_roll_up_waits_for_a_writer_of_the_same_day(app, ctx, monkeypatch):
    import threading

    now = ctx
    _seed(now, count=60)
    day = now.date() - dt.timedelta(days=3)
    late = _job(_day_start(day) + dt.timedelta(hours=12), random.Random(3))
    with db.engine.connect() as writer:
        writer.execute(JobHistory.__table__.insert().values(**_columns(late)))  # not committed yet

        def roll() -> None:
            with app.app_context():
                rollup.roll_up_closed_days(now)

        thread = threading.Thread(target=roll)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive()  # blocked by the writer's lock, not reading around it
        writer.commit()
    thread.join(timeout=30)
    assert not thread.is_alive() and day in _marked()
    _assert_exact(now, monkeypatch)


def _columns(job: JobHistory) -> dict[str, Any]:
    return {
        c.key: getattr(job, c.key) for c in JobHistory.__table__.columns if getattr(job, c.key) is not None
    }


def test_stats_rollup_command_sums_up_closed_days_once_and_is_safe_to_repeat(
    app: Flask, runner: Any, ctx: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(ctx)
    first = runner.invoke(args=["stats-rollup"])
    assert first.exit_code == 0, first.output
    days = db.session.execute(select(func.count()).select_from(JobRollupDay)).scalar_one()
    assert days >= 8 and f"rolled up {days} day(s)" in first.output
    again = runner.invoke(args=["stats-rollup"])
    assert again.exit_code == 0 and "rolled up 0 day(s)" in again.output
    _assert_exact(ctx, monkeypatch)  # the overview reads what the command rolled up
