"""The benchmark still runs end to end (tiny sizes, a few requests): timings are not checked."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bench_smoke_run_reports_every_section(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--workers", "1", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    [report] = [f for f in os.listdir(tmp_path) if f.endswith(".md")]
    text = open(tmp_path / report, encoding="utf-8").read()
    for title in (
        "1. Platform overhead",
        "2. Throughput",
        "3. Capacity",
        "4. Public result downloads",
        "5b.",
    ):
        assert title in text, text
    assert "Traceback" not in text, text
