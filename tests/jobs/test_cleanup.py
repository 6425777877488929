"""flask cleanup-media: expired media go, live results and templates stay, overlap is safe."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid

import pytest

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.jobs.claims import claim
from photochanger.jobs.cleanup import STALE_SPOOL_AFTER, cleanup_media
from photochanger.media.spool import InputSpool
from photochanger.media.storage import (
    input_path,
    preview_path,
    provider_media_path,
    result_dir,
    result_path,
    template_path,
)
from photochanger.models import JobStatus, MediaKind, MediaObject
from photochanger.runtime import services
from tests.support.jobs import HOUR, expire_row, job_with_files, media_of, stored_media

pytestmark = pytest.mark.db


def _exists(rel):
    return os.path.exists(services().store.abspath(rel))


def _cleaned(job_id, kind):
    return media_of(job_id, kind).cleaned_at is not None


def test_expired_results_inputs_and_provider_media_are_removed_and_marked(app, runner):
    with app.app_context():
        old = job_with_files()
        live = job_with_files(expires_in=HOUR)
        pm_rel = provider_media_path(uuid.uuid4().hex, "jpg")
        stored_media(MediaKind.PROVIDER_MEDIA, pm_rel, old, "slot-001", utcnow() - HOUR)
        temp_rel = f"temp/{uuid.uuid4().hex}.jpg"
        stored_media(MediaKind.TEMP, temp_rel, None, None, utcnow() - HOUR)
        tpl_rel = template_path("slot-001", uuid.uuid4().hex, "png")
        stored_media(MediaKind.TEMPLATE, tpl_rel, None, "slot-001", utcnow() - 100 * HOUR)  # never expires
        db.session.commit()

    result = runner.invoke(args=["cleanup-media", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "expired media removed: 4" in result.output
    assert "input=1" in result.output and "result=1" in result.output
    assert "provider_media=1" in result.output and "temp=1" in result.output

    with app.app_context():
        assert not os.path.exists(services().store.abspath(f"results/slot-001/{old}"))  # preview too
        assert not _exists(input_path("slot-001", old, "jpg"))
        assert not _exists(pm_rel) and not _exists(temp_rel)
        assert _cleaned(old, MediaKind.RESULT) and _cleaned(old, MediaKind.INPUT)
        # live results and templates untouched
        assert _exists(result_path("slot-001", live, "jpg")) and _exists(preview_path("slot-001", live))
        assert not _cleaned(live, MediaKind.RESULT)
        assert _exists(tpl_rel)


def test_second_run_finds_nothing(app, runner):
    with app.app_context():
        job_with_files()
    assert runner.invoke(args=["cleanup-media"]).exit_code == 0
    result = runner.invoke(args=["cleanup-media"])
    assert "expired media removed: 0" in result.output


def test_running_job_is_never_touched(app):
    with app.app_context():
        # Expired input row (clock skew, odd TTL) of a job still inside its deadline.
        job_id = job_with_files(
            status=JobStatus.PROCESSING,
            expires_in=-HOUR,
            started=utcnow(),
            deadline_in=dt.timedelta(seconds=40),
        )
        summary = cleanup_media(services().store)
        assert summary.skipped_running == 2
        assert summary.total_removed == 0
        assert _exists(input_path("slot-001", job_id, "jpg"))
        assert _exists(result_path("slot-001", job_id, "jpg"))
        assert not _cleaned(job_id, MediaKind.INPUT)


def test_batches_are_limited_by_max_batches(app):
    with app.app_context():
        for _ in range(3):
            job_with_files()
        first = cleanup_media(services().store, batch_size=2, max_batches=1)
        assert first.batches == 1 and sum(first.removed.values()) == 2
        rest = cleanup_media(services().store, batch_size=2)
        assert sum(rest.removed.values()) == 4


def test_orphaned_result_folders_are_removed(app):
    with app.app_context():
        store = services().store
        orphan = uuid.uuid4().hex
        store.write_atomic(result_path("slot-002", orphan, "jpg"), b"lost")
        failed = job_with_files(status=JobStatus.FAILED, expires_in=HOUR)
        store.write_atomic(result_path("slot-001", failed, "png"), b"partial")
        live = job_with_files(expires_in=HOUR)
        fresh = uuid.uuid4().hex  # no row yet but written a moment ago: may be a job being created
        store.write_atomic(result_path("slot-003", fresh, "jpg"), b"new")
        old = (utcnow() - dt.timedelta(minutes=10)).timestamp()
        for slot, job in (("slot-002", orphan), ("slot-001", failed), ("slot-001", live)):
            os.utime(store.abspath(f"results/{slot}/{job}"), (old, old))

        summary = cleanup_media(store)
        assert summary.orphans_removed == 2
        assert not os.path.exists(store.abspath(f"results/slot-002/{orphan}"))
        assert not os.path.exists(store.abspath("results/slot-002"))  # empty slot folder pruned
        assert not os.path.exists(store.abspath(f"results/slot-001/{failed}"))
        assert _exists(result_path("slot-001", live, "jpg"))
        assert _exists(result_path("slot-003", fresh, "jpg"))


def test_uploads_a_killed_worker_left_half_written_are_removed_and_live_ones_kept(app, runner):
    with app.app_context():
        store = services().store
        left, live = InputSpool(store), InputSpool(store)
        left.write(b"x" * 500)
        live.write(b"y" * 10)
        old = (utcnow() - STALE_SPOOL_AFTER - dt.timedelta(seconds=5)).timestamp()
        os.utime(left.path or "", (old, old))
        result = runner.invoke(args=["cleanup-media"])
        assert result.exit_code == 0, result.output
        assert "abandoned uploads removed: 1" in result.output
        assert not os.path.exists(left.path or "")
        assert os.path.exists(live.path or "")
        summary = cleanup_media(store)
        assert summary.stale_uploads_removed == 0  # the live upload's is too young
        assert live.keep(input_path("slot-001", uuid.uuid4().hex, "jpg"), 10)


def test_claim_lets_only_one_run_delete_a_row(app):
    with app.app_context():
        job_id = job_with_files()
        media_id = db.session.execute(
            db.select(MediaObject.id).where(MediaObject.job_id == job_id, MediaObject.kind == MediaKind.INPUT)
        ).scalar_one()
        now = utcnow()
        assert claim(media_id, now) is True
        assert claim(media_id, now) is False


def test_overlapping_runs_remove_each_file_once(app):
    with app.app_context():
        for _ in range(6):
            job_with_files()
    summaries = []

    def run():
        with app.app_context():
            summaries.append(cleanup_media(services().store, batch_size=3))
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(sum(s.removed.values()) for s in summaries) == 12
    with app.app_context():
        left = (
            db.session.execute(db.select(MediaObject).where(MediaObject.cleaned_at.is_(None))).scalars().all()
        )
        assert left == []


def test_a_result_folder_is_removed_whole_whatever_else_it_holds_and_its_bytes_counted(app):
    with app.app_context():
        store = services().store
        plain, crowded, bare = job_with_files(), job_with_files(), job_with_files()
        store.write_atomic(f"{result_dir('slot-001', crowded)}/converted.png", b"p" * 50)
        os.makedirs(store.abspath(f"{result_dir('slot-001', crowded)}/extra"))
        store.remove(preview_path("slot-001", bare))  # its preview was never built
        summary = cleanup_media(store)
        for job_id in (plain, crowded, bare):
            assert not os.path.exists(store.abspath(result_dir("slot-001", job_id)))
        assert summary.removed == {"input": 3, "result": 3}
        # 100 per input and result payload, 4 per preview ("webp"), 50 for the stray file
        assert summary.bytes_freed == 3 * 100 + 3 * 100 + 2 * 4 + 50


def test_the_slot_folder_goes_once_its_last_result_has(app):
    with app.app_context():
        store = services().store
        job_with_files(slot_id="slot-009")
        cleanup_media(store)
        assert not os.path.exists(store.abspath("results/slot-009"))
        assert not os.path.exists(store.abspath("inputs/slot-009"))


def test_a_folder_another_run_just_claimed_is_left_to_it_and_one_a_crash_left_goes(app):
    with app.app_context():
        store = services().store
        old = (utcnow() - dt.timedelta(minutes=10)).timestamp()
        being_removed, abandoned = job_with_files(), job_with_files()
        # Another run claimed these results: one a moment ago (it may be removing
        # the folder now), one an hour ago (it died before removing it).
        for job_id, claimed_at in ((being_removed, utcnow()), (abandoned, utcnow() - HOUR)):
            os.utime(store.abspath(result_dir("slot-001", job_id)), (old, old))
            assert claim(media_of(job_id, MediaKind.RESULT).id, claimed_at)

        summary = cleanup_media(store)
        assert summary.removed == {"input": 2}
        assert summary.orphans_removed == 1
        assert _exists(result_path("slot-001", being_removed, "jpg"))
        assert not os.path.exists(store.abspath(result_dir("slot-001", abandoned)))


def test_a_result_whose_job_is_live_stays_whatever_its_row_says(app, runner):
    with app.app_context():
        job_id = job_with_files(expires_in=HOUR)
        expire_row(job_id, MediaKind.RESULT)  # the row says expired, the job says live
    result = runner.invoke(args=["cleanup-media"])
    assert "expired media removed: 0 (none)" in result.output
    assert "skipped (result still live): 1" in result.output
    with app.app_context():
        assert _exists(result_path("slot-001", job_id, "jpg")) and _exists(preview_path("slot-001", job_id))
        assert not _cleaned(job_id, MediaKind.RESULT)
