"""Section 3: a burst of booths all waiting on a slow provider at once, and the memory it takes."""

from __future__ import annotations

from typing import Any

from . import load
from .harness import Live, Report, loadavg
from .photos import jpeg_of_size, multipart
from .profiles import MB
from .servers import INGEST_PASSWORD, children_of, rss_bytes

TITLE = "3. Capacity"
BIG_TITLE = "3b. Capacity with camera-sized photos"


def measure(live: Live, p: dict[str, Any], report: Report, answer_mbit: float = 0.0) -> None:
    """``answer_mbit``: the pace of each provider answer per connection, 0 for at once."""
    _burst(live, report, TITLE, p["cap_count"], p["cap_size"], p["cap_delay"], 1.5 * 1024**3, answer_mbit)


def measure_big_photos(live: Live, p: dict[str, Any], report: Report) -> None:
    """Camera-sized photos waiting on the provider: each waiting ingest must hold only the
    shrunk copy the provider gets, not its original (issue 20, row 17)."""
    _burst(live, report, BIG_TITLE, p["big_count"], p["big_size"], p["cap_delay"], 1.2 * 1024**3)


def _burst(
    live: Live,
    report: Report,
    title: str,
    count: int,
    size: int,
    delay: float,
    goal_bytes: float,
    answer_mbit: float = 0.0,
) -> None:
    live.provider_delay(seconds=delay, mbit=answer_mbit)
    photo = jpeg_of_size(size)
    body = multipart(photo, INGEST_PASSWORD)
    master = live.server.proc.pid

    def sample() -> tuple[int, int]:
        return sum(rss_bytes(pid) for pid in children_of(master)), rss_bytes(master)

    idle_workers, _ = sample()
    before = loadavg()
    try:
        result = load.burst(
            live.server.url, lambda n: (f"/ingest/slot-{n % 15 + 1:03d}", body), count, sample
        )
    finally:
        live.provider_delay(mbit=0)
    out = result.outcome
    ok_goal = not out.errors and out.ok == count and result.peak_rss < goal_bytes
    lines = [
        f"{count} booths post a {len(photo) / 1024:.0f} KB photo within 2 s, "
        "spread over the 15 slots; "
        f"the provider answers after {delay:g} s"
        + (
            f", each answer crossing a {answer_mbit:g} Mbit/s link of its own (`--answer-mbit`). "
            if answer_mbit
            else ", each answer at once (loopback). "
        )
        + f"Load average before: {before}, after: {loadavg()}.",
        "",
        "| completed | errors | peak in flight | latency p50 / p95 (s) "
        "| workers' RSS idle → peak (sum) | master RSS | goal |",
        "|---|---|---|---|---|---|---|",
        f"| {out.ok}/{count} | {out.errors or 0} | {result.peak_in_flight} | "
        f"{load.percentile(out.latencies, 50):.1f} / {load.percentile(out.latencies, 95):.1f} | "
        f"{idle_workers / MB:.0f} MB → {result.peak_rss / MB:.0f} MB | "
        f"{result.peak_master_rss / MB:.0f} MB | "
        f"{'met' if ok_goal else 'NOT met'} (0 errors, < {goal_bytes / 1024**3:.1f} GB) |",
    ]
    figures = {
        "ok": out.ok,
        "errors": out.errors,
        "peak_rss": result.peak_rss,
        "peak_in_flight": result.peak_in_flight,
        "answer_mbit": answer_mbit,
    }
    report.add(title, lines, figures)
