"""Section 5a: the admin's statistics overview on a large PostgreSQL history."""

from __future__ import annotations

import time
from typing import Any

import requests

from . import load
from .harness import Report, loadavg, ms
from .profiles import BENCH_SETTINGS
from .servers import ADMIN_PASSWORD, ADMIN_USER, Stack

#: The windows the overview is asked for, in minutes: an hour, a day, a week.
WINDOWS = (60, 24 * 60, 7 * 24 * 60)


def measure(stack: Stack, p: dict[str, Any], report: Report) -> None:
    import psycopg2

    title = f"5a. /api/stats/overview at {p['stats_rows']:,} job rows (PostgreSQL)"
    url = stack.new_database("postgresql")
    env = stack.app_env("stats", url)
    stack.prepare(env, BENCH_SETTINGS, gemini_slots=True)
    start = time.perf_counter()
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(_bulk_jobs_sql(p["stats_rows"]))
        cur.execute("ANALYZE job_history")
    conn.close()
    fill = time.perf_counter() - start
    server = stack.photochanger(env)
    try:
        login = requests.post(
            f"{server.url}/api/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}, timeout=10
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        data: dict[str, Any] = {"fill_seconds": fill, "load_before": loadavg()}
        lines = [
            f"{p['stats_rows']:,} rows inserted with INSERT … SELECT generate_series in {fill:.1f} s, "
            "then ANALYZE; "
            f"{p['stats_calls']} sequential calls per window after 3 warm-up calls. "
            f"Load average before: {loadavg()}.",
            "",
            "| window_minutes | p50 (ms) | p95 (ms) | goal p95 ≤ 200 ms | errors |",
            "|---|---|---|---|---|",
        ]
        session = requests.Session()
        for window in WINDOWS:
            target = f"{server.url}/api/stats/overview?window_minutes={window}"
            for _ in range(3):
                session.get(target, headers=headers, timeout=60)
            times, errors = [], 0
            for _ in range(p["stats_calls"]):
                t0 = time.perf_counter()
                resp = session.get(target, headers=headers, timeout=60)
                if resp.status_code == 200:
                    times.append(time.perf_counter() - t0)
                else:
                    errors += 1
            p50, p95 = load.percentile(times, 50), load.percentile(times, 95)
            lines.append(
                f"| {window} | {ms(p50)} | {ms(p95)} | {'met' if p95 <= 0.2 else 'NOT met'} | {errors} |"
            )
            data[str(window)] = {"p50": p50, "p95": p95, "errors": errors}
        lines.append(f"\nLoad average after: {loadavg()}.")
        report.add(title, lines, data)
    finally:
        server.stop()


def _bulk_jobs_sql(rows: int) -> str:
    """``rows`` job_history rows over the last 30 days, 15 slots, a realistic status mix (PostgreSQL).

    Statuses follow ``i / 15`` so that every slot gets failures and timeouts (``i % 20``
    would give failures to only 3 of the 15 slots).
    """
    slot = "'slot-' || lpad((1 + i % 15)::text, 3, '0')"
    job = "'j' || lpad(i::text, 31, '0')"
    return f"""
        INSERT INTO job_history (job_id, slot_id, status, source, provider_id, operation,
            slot_version, input_sha256, input_mime, input_size, hash_provided, hash_matched,
            host, started_at, deadline_at, finished_at, duration_ms, provider_attempts,
            failure_reason, result_path, result_mime, result_size, result_expires_at,
            metadata_json)
        SELECT {job}, {slot},
               CASE WHEN i / 15 % 20 = 0 THEN 'failed' WHEN i / 15 % 33 = 0 THEN 'timeout'
                    ELSE 'done' END,
               CASE WHEN i % 50 = 0 THEN 'ui_test' ELSE 'ingest' END,
               'gemini', 'image_edit', 1, md5(i::text) || md5((i + 7)::text), 'image/jpeg',
               2000000, true, i % 40 <> 0, 'bench', t, t + interval '48 seconds',
               t + (i % 30 + 5) * interval '1 second', (i % 30 + 5) * 1000, 1 + (i % 7 = 0)::int,
               CASE WHEN i / 15 % 20 = 0 THEN 'provider_5xx' WHEN i / 15 % 33 = 0 THEN 'timeout' END,
               CASE WHEN i / 15 % 20 <> 0 AND i / 15 % 33 <> 0
                    THEN 'results/' || {slot} || '/' || {job} || '/payload.jpg' END,
               'image/jpeg', 900000, t + interval '72 hours', '{{}}'::json
        FROM (SELECT i, now() - i * (interval '30 days' / {rows}) AS t
              FROM generate_series(1, {rows}) AS i) AS s
    """
