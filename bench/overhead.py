"""Section 1: what PhotoChanger adds to one request, against the floor and the bare echo.

Sequential requests, the three targets taking turns so that noise hits all alike;
then the same requests with the upload paced at a booth's link speed.
"""

from __future__ import annotations

from typing import Any

from . import load
from .harness import Live, Report, loadavg, ms, warm
from .photos import jpeg_of_size, multipart
from .servers import INGEST_PASSWORD

TITLE = "1. Platform overhead"


def measure(live: Live, p: dict[str, Any], report: Report) -> None:
    live.provider_delay(seconds=p["delay"])
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
        "pc": f"{live.server.url}/ingest/slot-001",
        "floor": f"{live.echo_url}/relay",
        "echo": f"{live.echo_url}/echo",
    }
    workers = live.stack.workers
    bodies = {}
    for label, size in p["sizes"]:
        body = bodies[label] = multipart(jpeg_of_size(size), INGEST_PASSWORD)
        warm(targets["pc"], body, workers, live.server)
        warm(targets["floor"], body, workers)
        warm(targets["echo"], body, workers)
        out = load.sequential_pairs(targets, body, p["pairs"])
        lines.append(_row(label, out, p["delay"], data, label, goal=True))
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
        lines.append(_row(label, out, p["delay"], data, f"{label} over the link", goal=False))
    data["load_after"] = loadavg()
    lines.append(f"\nLoad average after: {data['load_after']}.")
    report.add(TITLE, lines, data)


def _row(
    label: str, out: dict[str, load.Outcome], delay: float, data: dict[str, Any], key: str, goal: bool
) -> str:
    """One row: each target's overhead p50 / p95, the ratios, the errors."""
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
