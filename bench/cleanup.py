"""Section 5b: ``flask cleanup-media`` over a large number of expired results."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from typing import Any

from .harness import Report, loadavg
from .profiles import BENCH_SETTINGS
from .servers import ROOT, Stack, app_context_of


def measure(stack: Stack, p: dict[str, Any], report: Report) -> None:
    count = p["cleanup_results"]
    title = f"5b. flask cleanup-media, {count:,} expired results ({stack.db})"
    env = stack.app_env("cleanup", stack.new_database())
    stack.prepare(env, BENCH_SETTINGS, gemini_slots=False)
    start = time.perf_counter()
    _seed_expired(env, count)
    seeded = time.perf_counter() - start
    # Results expire long after they were written, so the disk has them by then:
    # the seed's own write-back is the seeding's cost, not cleanup's.
    start = time.perf_counter()
    os.sync()
    synced = time.perf_counter() - start
    before = loadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "photochanger", "cleanup-media", "--batch-size", "1000"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    took = time.perf_counter() - t0
    left = sum(len(files) for _, _, files in os.walk(os.path.join(env["MEDIA_ROOT"], "results")))
    ok = proc.returncode == 0 and left == 0 and took < 60
    summary = " ".join(proc.stdout.split())[:300] or proc.stderr[-300:]
    lines = [
        f"{count:,} done jobs whose results expired an hour ago, "
        "each with payload.jpg + preview.webp on disk "
        f"and a media_object row (seeded in {seeded:.1f} s and written back to the disk "
        f"with `sync` in {synced:.1f} s, as 72-hour-old results are; not timed). "
        f"Load average before: {before}, after: {loadavg()}.",
        "",
        "| time (s) | files left | exit | goal < 60 s | output |",
        "|---|---|---|---|---|",
        f"| {took:.1f} | {left} | {proc.returncode} | {'met' if ok else 'NOT met'} | {summary} |",
    ]
    report.add(title, lines, {"seconds": took, "left": left, "exit": proc.returncode})


def _seed_expired(env: dict[str, str], count: int) -> None:
    """Rows and files of ``count`` expired results, inserted in bulk."""
    from sqlalchemy import insert

    from photochanger.extensions import db
    from photochanger.models import JobHistory, MediaObject

    now = dt.datetime.now(dt.UTC)
    past, started = now - dt.timedelta(hours=1), now - dt.timedelta(hours=73)
    with app_context_of(env):
        for lo in range(0, count, 5000):
            jobs, media = [], []
            for i in range(lo, min(count, lo + 5000)):
                job, medium = _expired_result(i, started, past)
                jobs.append(job)
                media.append(medium)
                folder = os.path.join(env["MEDIA_ROOT"], os.path.dirname(job["result_path"]))
                os.makedirs(folder)
                for name in ("payload.jpg", "preview.webp"):
                    with open(os.path.join(folder, name), "wb") as fh:
                        fh.write(b"\xff\xd8\xff" + b"\0" * 1021)
            db.session.execute(insert(JobHistory), jobs)
            db.session.execute(insert(MediaObject), media)
            db.session.commit()


def _expired_result(i: int, started: dt.datetime, past: dt.datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``job_history`` and ``media_object`` rows of the ``i``-th done job, expired at ``past``."""
    job_id, slot_id = f"c{i:031d}", f"slot-{i % 15 + 1:03d}"
    rel = f"results/{slot_id}/{job_id}/payload.jpg"
    job = dict(
        job_id=job_id,
        slot_id=slot_id,
        status="done",
        source="ingest",
        provider_id="local",
        operation="filter",
        slot_version=1,
        started_at=started,
        finished_at=started,
        result_path=rel,
        result_mime="image/jpeg",
        result_size=1024,
        result_expires_at=past,
        metadata_json={},
    )
    medium = dict(
        id=f"m{i:031d}",
        job_id=job_id,
        slot_id=slot_id,
        kind="result",
        path=rel,
        mime="image/jpeg",
        size_bytes=1024,
        created_at=started,
        expires_at=past,
    )
    return job, medium
