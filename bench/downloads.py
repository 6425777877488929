"""Section 4: guests downloading results, straight from Flask and through nginx, and what
phones on the venue's Wi-Fi take from a booth sending photos meanwhile."""

from __future__ import annotations

import time
from typing import Any

import gevent
import requests

from . import load
from .harness import Live, Report, loadavg, ms, warm
from .photos import jpeg_of_size, multipart
from .servers import INGEST_PASSWORD, BenchServer, settle

TITLE = "4. Public result downloads"
#: A guest's phone on the venue's Wi-Fi, in Mbit/s.
PHONE_MBIT = 8


def measure(live: Live, p: dict[str, Any], report: Report) -> None:
    pc_url = live.server.url
    live.provider_delay(seconds=0)
    ids = _collect_results(pc_url, p["dl_results"])
    # The previews deferred by the earlier sections and by these ingests are
    # built as soon as the workers are idle; measure downloads after that.
    settle(live.server.proc.pid)
    size = len(requests.get(f"{pc_url}/public/results/{ids[0]}", timeout=10).content) if ids else 0
    lines = [
        f"GET /public/results/<job_id> over {len(ids)} stored results ({size / 1024:.0f} KB each), "
        f"{p['dl_conc']} clients, {p['dl_seconds']:.0f} s per cell. Load average before: {loadavg()}.",
        "",
        "| path | downloads/s | p95 (ms) | errors |",
        "|---|---|---|---|",
    ]
    data: dict[str, Any] = {}
    urls = [f"{pc_url}/public/results/{i}" for i in ids]
    data["flask"] = _downloads("straight from Flask (send_file)", urls, p, lines)
    phone_lines: list[str] = []
    line, data["phones_flask"] = _phones_beside_booths(
        "straight from Flask", urls, live.server, live.stack.workers, p
    )
    phone_lines.append(line)
    _through_nginx(live, ids, size, p, lines, phone_lines, data)
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
    report.add(TITLE, lines, data)


def _through_nginx(
    live: Live,
    ids: list[str],
    size: int,
    p: dict[str, Any],
    lines: list[str],
    phone_lines: list[str],
    data: dict[str, Any],
) -> None:
    """The same downloads and phones through the shipped nginx, before a second PhotoChanger."""
    accel = live.stack.photochanger({**live.env, "USE_X_ACCEL_REDIRECT": "1"})
    nginx = live.stack.nginx(accel.port, live.env["MEDIA_ROOT"])
    if nginx is None:
        lines.append("| nginx + X-Accel-Redirect | nginx or nginx/photochanger.conf missing | | |")
    else:
        urls = [f"{nginx.url}/public/results/{i}" for i in ids]
        first = requests.get(urls[0], timeout=10)
        assert first.status_code == 200 and len(first.content) == size, first.status_code
        data["nginx"] = _downloads("nginx + X-Accel-Redirect", urls, p, lines)
        line, data["phones_nginx"] = _phones_beside_booths(
            "nginx + X-Accel-Redirect", urls, accel, live.stack.workers, p
        )
        phone_lines.append(line)
        nginx.stop()
    accel.stop()


def _downloads(name: str, urls: list[str], p: dict[str, Any], lines: list[str]) -> float:
    """Clients reading as fast as loopback allows: a table row, and the downloads per second."""
    out = load.downloads(urls, p["dl_conc"], p["dl_seconds"])
    rate = out.ok / out.elapsed
    lines.append(f"| {name} | {rate:.0f} | {ms(load.percentile(out.latencies, 95))} | {out.errors or 0} |")
    return rate


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


def _phones_beside_booths(
    name: str, urls: list[str], server: BenchServer, workers: int, p: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """A booth's ingest latency alone, then while phones download results at Wi-Fi pace."""
    body = multipart(jpeg_of_size(p["phone_size"]), INGEST_PASSWORD)
    ingest_url = f"{server.url}/ingest/slot-001"
    warm(ingest_url, body, workers, server)
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
