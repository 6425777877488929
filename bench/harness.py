"""What every section shares: the command line, the report, the running servers and small helpers."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import gevent
import requests

from . import load
from .photos import Body
from .profiles import PROFILES
from .servers import ROOT, BenchServer, Stack


def loadavg() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


class Report:
    """The sections' tables in Markdown, and their figures as JSON keyed by section title."""

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

    def save(self, folder: str) -> str:
        """Write the report as Markdown and JSON under ``folder``; returns the Markdown's path."""
        os.makedirs(folder, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        base = os.path.join(folder, f"{stamp}-{self.profile}-{self.db}")
        with open(base + ".md", "w") as fh:
            fh.write(self.markdown())
        with open(base + ".json", "w") as fh:
            json.dump(self.data, fh, indent=2, default=str)
        return base + ".md"


@dataclass(frozen=True)
class Live:
    """The servers sections 1–4 measure, started once for all four."""

    stack: Stack
    #: PhotoChanger's environment (database, media root, the mock as Gemini)
    env: dict[str, str]
    server: BenchServer
    echo_url: str
    echo_proc: subprocess.Popen[bytes]
    mock_url: str
    mock_proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, stack: Stack, settings: dict[str, Any]) -> Live:
        mock_url = stack.mock_provider()
        env = stack.app_env("main", stack.new_database(), GEMINI_API_BASE=mock_url)
        stack.prepare(env, settings)
        server = stack.photochanger(env)
        echo_url, echo_proc = stack.echo(mock_url)
        return cls(stack, env, server, echo_url, echo_proc, mock_url, stack.mock_proc)

    def provider_delay(self, seconds: float | None = None, mbit: float | None = None) -> None:
        """Set how long the mock waits before it answers, and how fast it sends the answer."""
        query = "&".join(
            f"{name}={value:g}" for name, value in (("seconds", seconds), ("mbit", mbit)) if value is not None
        )
        requests.post(f"{self.mock_url}/_bench/delay?{query}", timeout=5)


def warm(url: str, body: Body, workers: int, server: Any = None) -> None:
    """Every worker pays its one-off costs (bcrypt check, imports, pools) before timing.

    Which worker accepts a connection is up to the kernel and the workers' event
    loops, so a single round can miss one, and a cold worker would then answer a
    timed request late. With ``server`` (a PhotoChanger whose log has the workers'
    ``ingest.done`` lines) rounds repeat until every worker has served an ingest.
    """
    for _ in range(10):
        jobs = [gevent.spawn(load.post, requests.Session(), url, body) for _ in range(workers * 3)]
        gevent.joinall(jobs)
        if server is None or len(server.pids_that_logged("ingest.done")) >= workers:
            return


def raise_nofile() -> None:
    """Let the burst's in-flight ingests hold their descriptors (booth, provider, permits)."""
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


def parse_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """``bench.run``'s command line; ``profile`` is always set."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
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
    parser.add_argument(
        "--only", default="1,2,3,4,5", help="comma-separated sections: 1,2,3,4,5 (3 = 3,3b; 5 = 5a,5b)"
    )
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
    args.profile = args.profile or "quick"
    return args
