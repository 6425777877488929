"""PhotoChanger benchmark: ``python -m bench.run --quick|--full|--smoke [--db sqlite|postgresql]``.

Starts the real server (gunicorn + gevent, ``gunicorn.conf.py``), a bare echo
baseline and a Gemini-compatible provider mock on loopback, measures the five
sections of docs/PERFORMANCE.md and prints one Markdown report (also saved
under ``instance/bench/``). Every run is bounded; nothing leaves the machine.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # the load generator is thousands of greenlets

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import requests  # noqa: E402

from . import load  # noqa: E402
from .photos import Body, jpeg_of_size, multipart  # noqa: E402
from .servers import (  # noqa: E402
    ADMIN_PASSWORD,
    ADMIN_USER,
    INGEST_PASSWORD,
    ROOT,
    Stack,
    children_of,
    cpu_seconds,
    cpu_times,
    fill_page_cache,
    first_touch_ms_per_mb,
    mem_available_mb,
    page_cache_bytes,
    rss_bytes,
    settle,
)

MB = 1024 * 1024
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "sizes": [("40 KB", 40_000)],
        "pairs": 2,
        "delay": 0.05,
        "link_mbit": 8,
        "link_pairs": 2,
        "tp_sizes": [("40 KB", 40_000)],
        "tp_conc": [2],
        "tp_seconds": 1.0,
        "touch_mb": 64,
        "fill_page_cache": False,
        "cap_count": 10,
        "cap_delay": 0.5,
        "cap_size": 20_000,
        "dl_conc": 4,
        "dl_results": 5,
        "dl_seconds": 1.0,
        "phones": 3,
        "phone_turns": 2,
        "phone_size": 40_000,
        "stats_rows": 0,
        "stats_calls": 0,
        "cleanup_results": 20,
    },
    "quick": {
        "sizes": [("5 MB", 5 * MB), ("20 MB", 20 * MB - 64 * 1024)],
        "pairs": 8,
        "delay": 0.3,
        "link_mbit": 40,
        "link_pairs": 4,
        "tp_sizes": [("1.5 MB, no resize needed", 3 * MB // 2), ("5 MB", 5 * MB)],
        "tp_conc": [8, 32],
        "tp_seconds": 8.0,
        "touch_mb": 3072,
        "fill_page_cache": True,
        "cap_count": 1000,
        "cap_delay": 20.0,
        "cap_size": 60_000,
        "dl_conc": 16,
        "dl_results": 60,
        "dl_seconds": 5.0,
        "phones": 50,
        "phone_turns": 20,
        "phone_size": 3 * MB // 2,
        "stats_rows": 100_000,
        "stats_calls": 20,
        "cleanup_results": 10_000,
    },
    "full": {
        "sizes": [("5 MB", 5 * MB), ("20 MB", 20 * MB - 64 * 1024)],
        "pairs": 100,
        "delay": 0.5,
        "link_mbit": 40,
        "link_pairs": 10,
        "tp_sizes": [("1.5 MB, no resize needed", 3 * MB // 2), ("5 MB", 5 * MB)],
        "tp_conc": [8, 32],
        "tp_seconds": 20.0,
        "touch_mb": 3072,
        "fill_page_cache": True,
        "cap_count": 1000,
        "cap_delay": 20.0,
        "cap_size": 60_000,
        "dl_conc": 32,
        "dl_results": 60,
        "dl_seconds": 10.0,
        "phones": 50,
        "phone_turns": 50,
        "phone_size": 3 * MB // 2,
        "stats_rows": 1_000_000,
        "stats_calls": 50,
        "cleanup_results": 100_000,
    },
}
#: Raised for the benchmark only: the defaults (4 per slot, 16 per provider) would
#: answer most of the 1000-in-flight burst with 429, which is the limit working, not capacity.
BENCH_SETTINGS = {
    "concurrency_per_slot": 1000,
    "concurrency_per_provider": 2000,
    "sync_response_seconds": 60,
    "upload_limit_mb": 20,
}


def loadavg() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


class Report:
    def __init__(self, profile: str, db: str, workers: int) -> None:
        self.profile, self.db, self.workers = profile, db, workers
        self.sections: list[tuple[str, list[str]]] = []
        self.notes: list[str] = []
        self.data: dict[str, Any] = {"profile": profile, "db": db, "workers": workers}

    def memory(self, cold: float, warm: float, fill: tuple[int, float] | None, why: str = "") -> None:
        """What filling fresh memory costs here, and whether the page cache was filled first."""
        self.data["memory"] = {
            "first_touch_ms_per_mb": cold,
            "reused_ms_per_mb": warm,
            "page_cache_fill": fill,
        }
        self.notes.append(
            f"Memory: filling memory the machine hands out fresh costs {cold:.2f} ms per MB, reused "
            f"at once {warm:.2f} ms (a host that backs memory lazily makes the first the larger). "
            + (
                f"The page cache was filled with a {fill[0]} MB file ({fill[1]:.0f} s) before the "
                "sections, as a long-running server's is, so new files take the place of cached ones."
                if fill
                else f"The page cache was not filled first ({why}): early files may pay the first figure."
            )
        )
        print(self.notes[-1], flush=True)

    def add(self, title: str, lines: list[str], data: dict[str, Any]) -> None:
        self.sections.append((title, lines))
        self.data[title] = data
        print(f"\n### {title}\n" + "\n".join(lines), flush=True)

    def markdown(self) -> str:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
        head = [
            f"## Benchmark run `{self.profile}` on {self.db} — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"Machine: {os.cpu_count()} CPUs (nproc), {mem:.1f} GB RAM, Python {sys.version.split()[0]}; "
            f"{self.workers} gunicorn gevent workers for PhotoChanger and for the echo baseline; "
            f"load average at the end: {loadavg()}.",
            *(["", *self.notes] if self.notes else []),
        ]
        body = [f"\n### {title}\n\n" + "\n".join(lines) for title, lines in self.sections]
        return "\n".join(head + body) + "\n"


def _warm(url: str, body: Body, workers: int, server: Any = None) -> None:
    """Every worker pays its one-off costs (bcrypt check, imports, pools) before timing.

    Which worker accepts a connection is up to the kernel and the workers' event
    loops, so a single round can miss one; a cold worker then answers a timed
    request ~300 ms late (its first bcrypt check). With ``server`` (a PhotoChanger
    whose log has the workers' ``ingest.done`` lines) rounds repeat until every
    worker has served an ingest.
    """
    for _ in range(10):
        jobs = [gevent.spawn(load.post, requests.Session(), url, body) for _ in range(workers * 3)]
        gevent.joinall(jobs)
        if server is None or len(server.pids_that_logged("ingest.done")) >= workers:
            return


def section_overhead(
    stack: Stack, server: Any, echo_url: str, mock_url: str, p: dict[str, Any], report: Report
) -> None:
    pc_url = server.url
    requests.post(f"{mock_url}/_bench/delay?seconds={p['delay']}", timeout=5)
    lines = [
        f"Sequential requests, {p['pairs']} per target and size, taking turns: PhotoChanger, the "
        "store-and-forward floor (`/relay`, calling the same mock), the echo; provider delay "
        f"{p['delay']} s (subtracted from PhotoChanger and the floor). Load average before: {loadavg()}.",
        "",
        "| photo | PhotoChanger overhead p50 / p95 (ms) | floor overhead p50 / p95 (ms) "
        "| echo p50 / p95 (ms) | p95: PhotoChanger / echo | goal ≤ 2× | p95: PhotoChanger / floor "
        "| errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    data: dict[str, Any] = {"load_before": loadavg()}
    targets = {
        "pc": f"{pc_url}/ingest/slot-001",
        "floor": f"{echo_url}/relay",
        "echo": f"{echo_url}/echo",
    }
    bodies = {}
    for label, size in p["sizes"]:
        body = bodies[label] = multipart(jpeg_of_size(size), INGEST_PASSWORD)
        _warm(targets["pc"], body, stack.workers, server)
        _warm(targets["floor"], body, stack.workers)
        _warm(targets["echo"], body, stack.workers)
        out = load.sequential_pairs(targets, body, p["pairs"])
        lines.append(_overhead_row(label, out, p["delay"], data, label, goal=True))
    rate = p["link_mbit"] * 1_000_000 / 8
    lines += [
        "",
        f"Over a booth's link: the same requests with the upload paced at {p['link_mbit']} Mbit/s "
        f"(a studio's Wi-Fi), {p['link_pairs']} per target and size, timed from the photo's last byte "
        "leaving the booth to the answer's last byte, minus the provider delay: what a guest waits "
        "for beyond the network. Not the goal's measure (the goal times the whole request on "
        "loopback); it shows what the server does while a real upload is still arriving.",
        "",
        "| photo | PhotoChanger p50 / p95 (ms) | floor p50 / p95 (ms) | echo p50 / p95 (ms) "
        "| p95: PhotoChanger / echo | p95: PhotoChanger / floor | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, _ in p["sizes"]:
        out = load.sequential_pairs(targets, bodies[label], p["link_pairs"], rate)
        lines.append(_overhead_row(label, out, p["delay"], data, f"{label} over the link", goal=False))
    data["load_after"] = loadavg()
    lines.append(f"\nLoad average after: {data['load_after']}.")
    report.add("1. Platform overhead", lines, data)


def _overhead_row(
    label: str, out: dict[str, load.Outcome], delay: float, data: dict[str, Any], key: str, goal: bool
) -> str:
    """One row of section 1: each target's overhead p50 / p95, the ratios, the errors."""
    delays = {"pc": delay, "floor": delay, "echo": 0.0}
    overheads = {name: [x - delays[name] for x in o.latencies] for name, o in out.items()}
    pct = {name: (load.percentile(o, 50), load.percentile(o, 95)) for name, o in overheads.items()}
    ratio = pct["pc"][1] / pct["echo"][1] if pct["echo"][1] else float("nan")
    to_floor = pct["pc"][1] / pct["floor"][1] if pct["floor"][1] else float("nan")
    errors = {f"{name} {k}": v for name, o in out.items() for k, v in o.errors.items()}
    cells = " | ".join(f"{ms(pct[name][0])} / {ms(pct[name][1])}" for name in out)
    verdict = f" | {'met' if ratio <= 2 else 'NOT met'}" if goal else ""
    data[key] = {
        **{f"{name}_p{q}": pct[name][i] for name in out for i, q in enumerate((50, 95))},
        "errors": errors,
    }
    return f"| {label} | {cells} | {ratio:.2f}×{verdict} | {to_floor:.2f}× | {errors or 0} |"


@dataclass(frozen=True)
class CpuPerRequest:
    """CPU milliseconds per good request of one load cell, split as the kernel counts it."""

    user: float
    system: float

    def __str__(self) -> str:
        return f"{self.user:.0f} + {self.system:.0f}"


def _cpu_ms_per_request(
    pids: Callable[[], list[int]], run: Callable[[], Any]
) -> tuple[Any, CpuPerRequest, float]:
    """Run a load cell; returns its outcome, the CPU ``pids`` spent per good request and
    the milliseconds per request this process (the load generator) spent."""
    (user, system), me = cpu_times(pids()), os.times()
    outcome = run()
    (user2, system2), me2 = cpu_times(pids()), os.times()
    per = 1000 / outcome.ok if outcome.ok else float("nan")
    loadgen = ((me2.user - me.user) + (me2.system - me.system)) * per
    return outcome, CpuPerRequest((user2 - user) * per, (system2 - system) * per), loadgen


@dataclass(frozen=True)
class Cell:
    """One closed-loop cell against one target: outcome, CPU and page-cache growth per request."""

    outcome: load.Outcome
    cpu: CpuPerRequest
    loadgen_ms: float
    mock_ms: float
    cache_mb: float
    #: CPU of the PostgreSQL server per request (its backends); 0 on SQLite
    db_ms: float = 0.0

    @property
    def rate(self) -> float:
        return self.outcome.ok / self.outcome.elapsed if self.outcome.elapsed else 0.0

    def rate_p95(self) -> str:
        return f"{self.rate:.1f} ({ms(load.percentile(self.outcome.latencies, 95))})"


def _cell(
    pids: Callable[[], list[int]],
    mock_pid: int,
    run: Callable[[], load.Outcome],
    db_pids: Callable[[], list[int]] = list,
) -> Cell:
    mock_before, cache_before, db_before = cpu_seconds([mock_pid]), page_cache_bytes(), cpu_seconds(db_pids())
    outcome, cpu, loadgen = _cpu_ms_per_request(pids, run)
    ok = max(1, outcome.ok)
    mock = (cpu_seconds([mock_pid]) - mock_before) * 1000 / ok
    db = (cpu_seconds(db_pids()) - db_before) * 1000 / ok
    return Cell(outcome, cpu, loadgen, mock, (page_cache_bytes() - cache_before) / MB / ok, db)


def section_throughput(
    server: Any,
    echo: tuple[str, Any],
    mock: tuple[str, Any],
    p: dict[str, Any],
    report: Report,
    workers: int,
    db_pids: Callable[[], list[int]] = list,
) -> None:
    pc_url = server.url
    (echo_url, echo_proc), (mock_url, mock_proc) = echo, mock
    requests.post(f"{mock_url}/_bench/delay?seconds=0", timeout=5)
    lines = [
        f"Closed loop, {p['tp_seconds']:.0f} s per cell, instant provider, photos spread over the "
        "15 slots. Three targets in turn: PhotoChanger; the store-and-forward floor "
        "(`/relay` in `bench/echo_app.py`: hash, keep the photo, call the same mock the same "
        "way, keep the answer, return it; no database, checks, limits, logs or metrics); the bare "
        "echo. After each PhotoChanger cell the benchmark waits until its workers are idle "
        "(the gallery previews deferred during the burst are built then) before the next target "
        f"runs. Load average before: {loadavg()}.",
        "",
        "| photo | booths | PhotoChanger req/s (p95 ms) | floor req/s (p95 ms) | echo req/s (p95 ms) "
        "| PhotoChanger / echo | goal ≥ 0.7× | PhotoChanger / floor | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    cpu_lines = [
        "",
        "CPU milliseconds per answered request from `/proc`, user + system: the servers' "
        "workers during the cell, the gallery previews PhotoChanger deferred to after it, the "
        "provider mock, the load generator (this process) and, on PostgreSQL, the database "
        "server's backends during the PhotoChanger cell. Page cache: how much the "
        "machine's `Cached` grew per request (0 once the cache is full, see the head of the report).",
        "",
        "| photo | booths | PhotoChanger in the cell | its database server | deferred previews | floor "
        "| echo | mock: PhotoChanger / floor | load generator: PhotoChanger / floor / echo | page "
        "cache MB per request: PhotoChanger / floor / echo |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    data: dict[str, Any] = {"load_before": loadavg()}

    def pc_pids() -> list[int]:
        return children_of(server.proc.pid)

    def echo_pids() -> list[int]:
        return children_of(echo_proc.pid)

    for label, size in p["tp_sizes"]:
        body = multipart(jpeg_of_size(size), INGEST_PASSWORD)
        _warm(f"{pc_url}/ingest/slot-001", body, workers, server)
        _warm(f"{echo_url}/relay", body, workers)

        def spread(n: int, body: Body = body) -> tuple[str, Body]:
            return f"/ingest/slot-{n % 15 + 1:03d}", body

        def to_floor(n: int, body: Body = body) -> tuple[str, Body]:
            return "/relay", body

        def to_echo(n: int, body: Body = body) -> tuple[str, Body]:
            return "/echo", body

        for conc in p["tp_conc"]:

            def loop(url: str, bodies: Callable[[int], tuple[str, Body]], conc: int = conc) -> Any:
                return functools.partial(load.closed_loop, url, bodies, conc, p["tp_seconds"])

            pc = _cell(pc_pids, mock_proc.pid, loop(pc_url, spread), db_pids)
            # Deferred previews run now; their CPU is the burst's, so it is counted.
            before_settle = cpu_seconds(pc_pids())
            settled = settle(server.proc.pid)
            deferred_cpu = (cpu_seconds(pc_pids()) - before_settle) * 1000 / max(1, pc.outcome.ok)
            floor = _cell(echo_pids, mock_proc.pid, loop(echo_url, to_floor))
            base = _cell(echo_pids, mock_proc.pid, loop(echo_url, to_echo))
            ratio = pc.rate / base.rate if base.rate else float("nan")
            to_floor_ratio = pc.rate / floor.rate if floor.rate else float("nan")
            errors = {
                f"{name} {k}": v
                for name, cell in (("pc", pc), ("floor", floor), ("echo", base))
                for k, v in cell.outcome.errors.items()
            }
            lines.append(
                f"| {label} | {conc} | {pc.rate_p95()} | {floor.rate_p95()} | {base.rate_p95()} | "
                f"{ratio:.2f}× | {'met' if ratio >= 0.7 else 'NOT met'} | {to_floor_ratio:.2f}× "
                f"| {errors or 0} |"
            )
            cpu_lines.append(
                f"| {label} | {conc} | {pc.cpu} | {pc.db_ms:.1f} | {deferred_cpu:.0f} "
                f"| {floor.cpu} | {base.cpu} "
                f"| {pc.mock_ms:.1f} / {floor.mock_ms:.1f} "
                f"| {pc.loadgen_ms:.0f} / {floor.loadgen_ms:.0f} / {base.loadgen_ms:.0f} "
                f"| {pc.cache_mb:.1f} / {floor.cache_mb:.1f} / {base.cache_mb:.1f} |"
            )
            data[f"{label} x{conc}"] = {
                name: {
                    "rps": cell.rate,
                    "cpu_ms": {"user": cell.cpu.user, "system": cell.cpu.system},
                    "mock_cpu_ms": cell.mock_ms,
                    "loadgen_cpu_ms": cell.loadgen_ms,
                    "page_cache_mb_per_request": cell.cache_mb,
                    "db_cpu_ms": cell.db_ms,
                }
                for name, cell in (("pc", pc), ("floor", floor), ("echo", base))
            } | {"pc_deferred_cpu_ms": deferred_cpu, "errors": errors, "deferred_work_seconds": settled}
    data["load_after"] = loadavg()
    lines += cpu_lines
    lines.append(f"\nLoad average after: {data['load_after']}.")
    report.add("2. Throughput", lines, data)


def section_capacity(
    server: Any, pc_url: str, mock_url: str, p: dict[str, Any], report: Report, answer_mbit: float = 0.0
) -> None:
    requests.post(f"{mock_url}/_bench/delay?seconds={p['cap_delay']}&mbit={answer_mbit:g}", timeout=5)
    photo = jpeg_of_size(p["cap_size"])
    body = multipart(photo, INGEST_PASSWORD)
    master = server.proc.pid

    def sample() -> tuple[int, int]:
        return sum(rss_bytes(pid) for pid in children_of(master)), rss_bytes(master)

    idle_workers, _ = sample()
    before = loadavg()
    try:
        result = load.burst(
            pc_url, lambda n: (f"/ingest/slot-{n % 15 + 1:03d}", body), p["cap_count"], sample
        )
    finally:
        requests.post(f"{mock_url}/_bench/delay?mbit=0", timeout=5)
    out = result.outcome
    ok_goal = not out.errors and out.ok == p["cap_count"] and result.peak_rss < 1.5 * 1024**3
    lines = [
        f"{p['cap_count']} booths post a {len(photo) / 1024:.0f} KB photo within 2 s, "
        "spread over the 15 slots; "
        f"the provider answers after {p['cap_delay']:g} s"
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
        f"| {out.ok}/{p['cap_count']} | {out.errors or 0} | {result.peak_in_flight} | "
        f"{load.percentile(out.latencies, 50):.1f} / {load.percentile(out.latencies, 95):.1f} | "
        f"{idle_workers / MB:.0f} MB → {result.peak_rss / MB:.0f} MB | "
        f"{result.peak_master_rss / MB:.0f} MB | "
        f"{'met' if ok_goal else 'NOT met'} (0 errors, < 1.5 GB) |",
    ]
    report.add(
        "3. Capacity",
        lines,
        {
            "ok": out.ok,
            "errors": out.errors,
            "peak_rss": result.peak_rss,
            "peak_in_flight": result.peak_in_flight,
            "answer_mbit": answer_mbit,
        },
    )


def _collect_results(pc_url: str, count: int) -> list[str]:
    body = multipart(jpeg_of_size(200_000), INGEST_PASSWORD)
    ids: list[str] = []

    def one(n: int) -> None:
        resp = requests.post(
            f"{pc_url}/ingest/slot-{n % 15 + 1:03d}",
            data=body.data,
            headers={"Content-Type": body.content_type, "Idempotency-Key": f"dl-{n}-{time.time()}"},
            timeout=60,
        )
        if resp.status_code == 200:
            ids.append(resp.headers["X-Job-Id"])

    gevent.joinall([gevent.spawn(one, n) for n in range(count)])
    return ids


#: A guest's phone on the venue's Wi-Fi, in Mbit/s.
PHONE_MBIT = 8


def _phones_beside_booths(
    name: str, urls: list[str], server: Any, workers: int, p: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """A booth's ingest latency alone, then while phones download results at Wi-Fi pace."""
    body = multipart(jpeg_of_size(p["phone_size"]), INGEST_PASSWORD)
    ingest_url = f"{server.url}/ingest/slot-001"
    _warm(ingest_url, body, workers, server)
    alone = load.sequential_pairs({"booth": ingest_url}, body, p["phone_turns"])["booth"]
    stop = load.phones(urls, p["phones"], PHONE_MBIT * 1_000_000 / 8)
    try:
        gevent.sleep(1.0)  # every phone has its download under way
        beside = load.sequential_pairs({"booth": ingest_url}, body, p["phone_turns"])["booth"]
    finally:
        phones = stop()
    tally = phones.outcome
    mbit_per_s, per_s = phones.received * 8 / tally.elapsed / 1e6, tally.ok / tally.elapsed
    errors = {**alone.errors, **beside.errors, **{f"phone {k}": v for k, v in tally.errors.items()}}
    line = (
        f"| {name} | {p['phones']} | {mbit_per_s:.0f} Mbit/s, {per_s:.1f} /s | "
        f"{ms(load.percentile(alone.latencies, 50))} / {ms(load.percentile(alone.latencies, 95))} | "
        f"{ms(load.percentile(beside.latencies, 50))} / {ms(load.percentile(beside.latencies, 95))} | "
        f"{errors or 0} |"
    )
    data = {
        "phone_downloads_per_s": per_s,
        "phone_mbit_per_s": mbit_per_s,
        "booth_alone_p95": load.percentile(alone.latencies, 95),
        "booth_beside_p95": load.percentile(beside.latencies, 95),
        "errors": errors,
    }
    return line, data


def section_downloads(
    stack: Stack, env: dict[str, str], server: Any, mock_url: str, p: dict[str, Any], report: Report
) -> None:
    pc_url = server.url
    requests.post(f"{mock_url}/_bench/delay?seconds=0", timeout=5)
    ids = _collect_results(pc_url, p["dl_results"])
    # The previews deferred by the earlier sections and by these ingests are
    # built as soon as the workers are idle; measure downloads after that.
    settle(server.proc.pid)
    size = len(requests.get(f"{pc_url}/public/results/{ids[0]}", timeout=10).content) if ids else 0
    lines = [
        f"GET /public/results/<job_id> over {len(ids)} stored results ({size / 1024:.0f} KB each), "
        f"{p['dl_conc']} clients, {p['dl_seconds']:.0f} s per cell. Load average before: {loadavg()}.",
        "",
        "| path | downloads/s | p95 (ms) | errors |",
        "|---|---|---|---|",
    ]
    data: dict[str, Any] = {}
    flask = load.downloads([f"{pc_url}/public/results/{i}" for i in ids], p["dl_conc"], p["dl_seconds"])
    lines.append(
        f"| straight from Flask (send_file) | {flask.ok / flask.elapsed:.0f} | "
        f"{ms(load.percentile(flask.latencies, 95))} | {flask.errors or 0} |"
    )
    data["flask"] = flask.ok / flask.elapsed
    phone_lines: list[str] = []
    line, data["phones_flask"] = _phones_beside_booths(
        "straight from Flask",
        [f"{pc_url}/public/results/{i}" for i in ids],
        server,
        stack.workers,
        p,
    )
    phone_lines.append(line)
    routes = open(os.path.join(ROOT, "photochanger", "public", "routes.py")).read()
    if "X-Accel-Redirect" not in routes:
        lines.append("| nginx + X-Accel-Redirect | pending: USE_X_ACCEL_REDIRECT not in place yet | | |")
    else:
        accel = stack.photochanger({**env, "USE_X_ACCEL_REDIRECT": "1"})
        nginx = stack.nginx(accel.port, env["MEDIA_ROOT"])
        if nginx is None:
            lines.append("| nginx + X-Accel-Redirect | nginx or nginx/photochanger.conf missing | | |")
        else:
            urls = [f"{nginx.url}/public/results/{i}" for i in ids]
            first = requests.get(urls[0], timeout=10)
            assert first.status_code == 200 and len(first.content) == size, first.status_code
            via = load.downloads(urls, p["dl_conc"], p["dl_seconds"])
            lines.append(
                f"| nginx + X-Accel-Redirect | {via.ok / via.elapsed:.0f} | "
                f"{ms(load.percentile(via.latencies, 95))} | {via.errors or 0} |"
            )
            data["nginx"] = via.ok / via.elapsed
            line, data["phones_nginx"] = _phones_beside_booths(
                "nginx + X-Accel-Redirect", urls, accel, stack.workers, p
            )
            phone_lines.append(line)
            nginx.stop()
        accel.stop()
    lines += [
        "",
        f"Guests' phones on the venue's Wi-Fi: each fetches results back to back at {PHONE_MBIT} Mbit/s "
        f"through a {load.PHONE_WINDOW // 1024} KB receive window, while a booth sends "
        f"{p['phone_turns']} photos of {p['phone_size'] / 1024:.0f} KB one after another (instant "
        "provider); the same booth's photos alone first. The booth posts to gunicorn directly.",
        "",
        "| downloads | phones | the phones got (bytes, whole results) | booth ingest alone p50 / p95 (ms) "
        "| beside the phones p50 / p95 (ms) | errors |",
        "|---|---|---|---|---|---|",
        *phone_lines,
        f"\nLoad average after: {loadavg()}.",
    ]
    report.add("4. Public result downloads", lines, data)


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


def section_stats(stack: Stack, p: dict[str, Any], report: Report) -> None:
    import psycopg2

    title = f"5a. /api/stats/overview at {p['stats_rows']:,} job rows (PostgreSQL)"
    if not os.path.exists(os.path.join(ROOT, "photochanger", "stats", "api.py")):
        report.add(title, ["Pending: the endpoint (photochanger/stats/) is not in place yet."], {})
        return
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
        if login.status_code != 200:
            report.add(
                title, [f"Pending: admin login answered {login.status_code} ({login.text[:120]})."], {}
            )
            return
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
        for window in (60, 24 * 60, 7 * 24 * 60):
            target = f"{server.url}/api/stats/overview?window_minutes={window}"
            status = [session.get(target, headers=headers, timeout=60).status_code for _ in range(3)]
            if status[-1] == 404:
                lines.append(f"| {window} | pending: endpoint answers 404 (not registered yet) | | | |")
                continue
            times, errors = [], 0
            for _ in range(p["stats_calls"]):
                t0 = time.perf_counter()
                resp = session.get(target, headers=headers, timeout=60)
                if resp.status_code == 200:
                    times.append(time.perf_counter() - t0)
                else:
                    errors += 1
            p95 = load.percentile(times, 95)
            lines.append(
                f"| {window} | {ms(load.percentile(times, 50))} | {ms(p95)} | "
                f"{'met' if p95 <= 0.2 else 'NOT met'} | {errors} |"
            )
            data[str(window)] = {"p50": load.percentile(times, 50), "p95": p95, "errors": errors}
        lines.append(f"\nLoad average after: {loadavg()}.")
        report.add(title, lines, data)
    finally:
        server.stop()


def section_cleanup(stack: Stack, p: dict[str, Any], report: Report) -> None:
    count = p["cleanup_results"]
    title = f"5b. flask cleanup-media, {count:,} expired results ({stack.db})"
    if not os.path.exists(os.path.join(ROOT, "photochanger", "media", "cleanup.py")):
        report.add(title, ["Pending: photochanger/media/cleanup.py is not in place yet."], {})
        return
    env = stack.app_env("cleanup", stack.new_database())
    stack.prepare(env, BENCH_SETTINGS, gemini_slots=False)
    start = time.perf_counter()
    _seed_expired(env, count)
    seeded = time.perf_counter() - start
    # Results expire 72 h after they were written: by then the disk has long had
    # them. Without this the run would also wait for the seed's own write-back
    # (~200 MB of small files and folders), which is the seeding's cost, not
    # cleanup's: on a slow disk it added ~15 s to 100,000 results.
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

    from photochanger import create_app
    from photochanger.extensions import db
    from photochanger.models import JobHistory, MediaObject

    now = dt.datetime.now(dt.UTC)
    past, started = now - dt.timedelta(hours=1), now - dt.timedelta(hours=73)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        app = create_app()
        with app.app_context():
            for lo in range(0, count, 5000):
                jobs, media = [], []
                for i in range(lo, min(count, lo + 5000)):
                    job_id, slot_id = f"c{i:031d}", f"slot-{i % 15 + 1:03d}"
                    rel = f"results/{slot_id}/{job_id}/payload.jpg"
                    jobs.append(
                        dict(
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
                    )
                    media.append(
                        dict(
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
                    )
                    folder = os.path.join(env["MEDIA_ROOT"], "results", slot_id, job_id)
                    os.makedirs(folder)
                    for name in ("payload.jpg", "preview.webp"):
                        with open(os.path.join(folder, name), "wb") as fh:
                            fh.write(b"\xff\xd8\xff" + b"\0" * 1021)
                db.session.execute(insert(JobHistory), jobs)
                db.session.execute(insert(MediaObject), media)
                db.session.commit()
            db.session.remove()
            db.engine.dispose()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _raise_nofile() -> None:
    """1000 in-flight ingests hold ~4 descriptors each (booth, provider, two permits)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _pace(value: str) -> float:
    """``--answer-mbit``: a link's speed, 0 for none."""
    try:
        mbit = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not mbit >= 0 or mbit == float("inf"):
        raise argparse.ArgumentTypeError(f"Mbit/s must be 0 (at once) or more: {value!r}")
    return mbit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    for name in PROFILES:
        mode.add_argument(f"--{name}", dest="profile", action="store_const", const=name)
    parser.add_argument(
        "--db", choices=("sqlite", "postgresql"), default="sqlite", help="database of sections 1–4 and 5b"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, (os.cpu_count() or 1) * 2),
        help="gunicorn workers (production default)",
    )
    parser.add_argument("--only", default="1,2,3,4,5", help="comma-separated sections: 1,2,3,4,5 (5 = 5a,5b)")
    parser.add_argument(
        "--no-postgres", action="store_true", help="skip 5a (needs PostgreSQL server binaries)"
    )
    parser.add_argument(
        "--no-fill",
        action="store_true",
        help="do not fill the page cache before sections 1-4 (it writes a file of the machine's free RAM)",
    )
    parser.add_argument(
        "--answer-mbit",
        type=_pace,
        default=0.0,
        help="section 3: send each provider answer at this pace (Mbit/s per connection) instead of at once",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, databases)")
    parser.add_argument(
        "--out", default=os.path.join(ROOT, "instance", "bench"), help="folder for the report (git-ignored)"
    )
    args = parser.parse_args(argv)
    profile = args.profile or "quick"
    p = PROFILES[profile]
    only = set(args.only.split(","))
    _raise_nofile()

    stack = Stack(args.db, args.workers, keep=args.keep)
    report = Report(profile, args.db, args.workers)
    failed = False

    def guarded(name: str, fn: Callable[[], Any]) -> None:
        nonlocal failed
        try:
            fn()
        except Exception:  # one broken section must not hide the others
            failed = True
            report.add(name, ["```", traceback.format_exc()[-3000:], "```"], {"error": True})

    try:
        print(
            f"bench: profile={profile} db={args.db} workers={args.workers} "
            f"scratch={stack.dir} load={loadavg()}",
            flush=True,
        )
        if only & {"1", "2", "3", "4"}:
            # Before anything fills memory: afterwards a fresh allocation may reuse warm pages.
            cold, warm = first_touch_ms_per_mb(p["touch_mb"])
            fill, why = None, "--no-fill" if args.no_fill else "not in this profile"
            if p["fill_page_cache"] and not args.no_fill:
                size = mem_available_mb() + 512
                # The sections write GBs of their own: leave room for them.
                if shutil.disk_usage(stack.dir).free < (size + 8 * 1024) * MB:
                    why = f"less than {size + 8 * 1024} MB free on the scratch disk"
                else:
                    try:
                        fill = (size, fill_page_cache(os.path.join(stack.dir, "page-cache-fill"), size))
                    except OSError as exc:
                        why = f"writing it failed: {exc}"
            report.memory(cold, warm, fill, why)
            mock_url = stack.mock_provider()
            mock_proc = stack.mock_proc
            env = stack.app_env("main", stack.new_database(), GEMINI_API_BASE=mock_url)
            stack.prepare(env, BENCH_SETTINGS)
            server = stack.photochanger(env)
            echo_url, echo_proc = stack.echo(mock_url)
            if "1" in only:
                guarded(
                    "1. Platform overhead",
                    lambda: section_overhead(stack, server, echo_url, mock_url, p, report),
                )
            if "2" in only:
                guarded(
                    "2. Throughput",
                    lambda: section_throughput(
                        server,
                        (echo_url, echo_proc),
                        (mock_url, mock_proc),
                        p,
                        report,
                        stack.workers,
                        stack.database_pids,
                    ),
                )
            if "3" in only:
                guarded(
                    "3. Capacity",
                    lambda: section_capacity(server, server.url, mock_url, p, report, args.answer_mbit),
                )
            if "4" in only:
                guarded(
                    "4. Public result downloads",
                    lambda: section_downloads(stack, env, server, mock_url, p, report),
                )
        if only & {"5", "5a"} and p["stats_rows"] and not args.no_postgres:
            guarded("5a. Stats overview", lambda: section_stats(stack, p, report))
        if only & {"5", "5b"}:
            guarded("5b. Cleanup", lambda: section_cleanup(stack, p, report))
    finally:
        stack.stop()
    os.makedirs(args.out, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = os.path.join(args.out, f"{stamp}-{profile}-{args.db}")
    with open(base + ".md", "w") as fh:
        fh.write(report.markdown())
    with open(base + ".json", "w") as fh:
        json.dump(report.data, fh, indent=2, default=str)
    print(f"\nreport: {base}.md", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
