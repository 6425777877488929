"""Section 2: answered requests per second under a closed loop of booths, and the CPU behind each.

PhotoChanger, the store-and-forward floor and the echo take turns on the same
bodies; CPU per answered request is read from ``/proc`` around each cell.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import load
from .harness import Live, Report, loadavg, ms, warm
from .photos import Body, jpeg_of_size, multipart
from .profiles import MB
from .servers import INGEST_PASSWORD, children_of, cpu_seconds, cpu_times, page_cache_bytes, settle

TITLE = "2. Throughput"


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

    def figures(self) -> dict[str, Any]:
        """The cell as the JSON report records it."""
        return {
            "rps": self.rate,
            "cpu_ms": {"user": self.cpu.user, "system": self.cpu.system},
            "mock_cpu_ms": self.mock_ms,
            "loadgen_cpu_ms": self.loadgen_ms,
            "page_cache_mb_per_request": self.cache_mb,
            "db_cpu_ms": self.db_ms,
        }


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


def measure(live: Live, p: dict[str, Any], report: Report) -> None:
    live.provider_delay(seconds=0)
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
    for label, size in p["tp_sizes"]:
        body = multipart(jpeg_of_size(size), INGEST_PASSWORD)
        warm(f"{live.server.url}/ingest/slot-001", body, live.stack.workers, live.server)
        warm(f"{live.echo_url}/relay", body, live.stack.workers)
        for conc in p["tp_conc"]:
            row, cpu_row, data[f"{label} x{conc}"] = _cells(live, body, conc, p["tp_seconds"], label)
            lines.append(row)
            cpu_lines.append(cpu_row)
    data["load_after"] = loadavg()
    lines += cpu_lines
    lines.append(f"\nLoad average after: {data['load_after']}.")
    report.add(TITLE, lines, data)


def _cells(live: Live, body: Body, conc: int, seconds: float, label: str) -> tuple[str, str, dict[str, Any]]:
    """PhotoChanger, the floor and the echo at ``conc`` booths: the rate row, the CPU row, the figures."""
    master, echo_master, mock_pid = live.server.proc.pid, live.echo_proc.pid, live.mock_proc.pid

    def pc_pids() -> list[int]:
        return children_of(master)

    def echo_pids() -> list[int]:
        return children_of(echo_master)

    def loop(url: str, path: Callable[[int], str]) -> Callable[[], load.Outcome]:
        return functools.partial(load.closed_loop, url, lambda n: (path(n), body), conc, seconds)

    pc = _cell(
        pc_pids,
        mock_pid,
        loop(live.server.url, lambda n: f"/ingest/slot-{n % 15 + 1:03d}"),
        live.stack.database_pids,
    )
    # Deferred previews run now; their CPU is the burst's, so it is counted.
    before_settle = cpu_seconds(pc_pids())
    settled = settle(master)
    deferred_cpu = (cpu_seconds(pc_pids()) - before_settle) * 1000 / max(1, pc.outcome.ok)
    floor = _cell(echo_pids, mock_pid, loop(live.echo_url, lambda n: "/relay"))
    base = _cell(echo_pids, mock_pid, loop(live.echo_url, lambda n: "/echo"))
    ratio = pc.rate / base.rate if base.rate else float("nan")
    to_floor = pc.rate / floor.rate if floor.rate else float("nan")
    cells = {"pc": pc, "floor": floor, "echo": base}
    errors = {f"{name} {k}": v for name, cell in cells.items() for k, v in cell.outcome.errors.items()}
    row = (
        f"| {label} | {conc} | {pc.rate_p95()} | {floor.rate_p95()} | {base.rate_p95()} | "
        f"{ratio:.2f}× | {'met' if ratio >= 0.7 else 'NOT met'} | {to_floor:.2f}× "
        f"| {errors or 0} |"
    )
    cpu_row = (
        f"| {label} | {conc} | {pc.cpu} | {pc.db_ms:.1f} | {deferred_cpu:.0f} "
        f"| {floor.cpu} | {base.cpu} "
        f"| {pc.mock_ms:.1f} / {floor.mock_ms:.1f} "
        f"| {pc.loadgen_ms:.0f} / {floor.loadgen_ms:.0f} / {base.loadgen_ms:.0f} "
        f"| {pc.cache_mb:.1f} / {floor.cache_mb:.1f} / {base.cache_mb:.1f} |"
    )
    figures: dict[str, Any] = {name: cell.figures() for name, cell in cells.items()}
    figures |= {"pc_deferred_cpu_ms": deferred_cpu, "errors": errors, "deferred_work_seconds": settled}
    return row, cpu_row, figures
