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
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from . import capacity, cleanup, downloads, overhead, stats_page, throughput  # noqa: E402
from .harness import Live, Report, loadavg, parse_args, raise_nofile  # noqa: E402
from .profiles import BENCH_SETTINGS, MB, PROFILES  # noqa: E402
from .servers import Stack, fill_page_cache, first_touch_ms_per_mb, mem_available_mb  # noqa: E402


def prepare_memory(stack: Stack, p: dict[str, Any], no_fill: bool, report: Report) -> None:
    """Time fresh memory against reused, then fill the page cache as a long-running server's is."""
    # Before anything fills memory: afterwards a fresh allocation may reuse warm pages.
    cold, warm = first_touch_ms_per_mb(p["touch_mb"])
    fill, why = None, "--no-fill" if no_fill else "not in this profile"
    if p["fill_page_cache"] and not no_fill:
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


def run_sections(args: argparse.Namespace, stack: Stack, report: Report) -> bool:
    """The sections ``--only`` names, each guarded; True when one of them failed."""
    p = PROFILES[args.profile]
    only = set(args.only.split(","))
    failed = False

    def guarded(name: str, fn: Callable[[], Any]) -> None:
        nonlocal failed
        try:
            fn()
        except Exception:  # one broken section must not hide the others
            failed = True
            report.add(name, ["```", traceback.format_exc()[-3000:], "```"], {"error": True})

    if only & {"1", "2", "3", "3b", "4"}:
        prepare_memory(stack, p, args.no_fill, report)
        live = Live.start(stack, BENCH_SETTINGS)
        if "1" in only:
            guarded(overhead.TITLE, lambda: overhead.measure(live, p, report))
        if "2" in only:
            guarded(throughput.TITLE, lambda: throughput.measure(live, p, report))
        if "3" in only:
            guarded(capacity.TITLE, lambda: capacity.measure(live, p, report, args.answer_mbit))
        if "3" in only or "3b" in only:
            guarded(capacity.BIG_TITLE, lambda: capacity.measure_big_photos(live, p, report))
        if "4" in only:
            guarded(downloads.TITLE, lambda: downloads.measure(live, p, report))
    if only & {"5", "5a"} and p["stats_rows"] and not args.no_postgres:
        guarded("5a. Stats overview", lambda: stats_page.measure(stack, p, report))
    if only & {"5", "5b"}:
        guarded("5b. Cleanup", lambda: cleanup.measure(stack, p, report))
    return failed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__ or "", argv)
    raise_nofile()
    stack = Stack(args.db, args.workers, keep=args.keep)
    report = Report(args.profile, args.db, args.workers)
    try:
        print(
            f"bench: profile={args.profile} db={args.db} workers={args.workers} "
            f"scratch={stack.dir} load={loadavg()}",
            flush=True,
        )
        failed = run_sections(args, stack, report)
    finally:
        stack.stop()
    print(f"\nreport: {report.save(args.out)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
