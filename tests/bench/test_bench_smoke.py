"""The benchmark still runs end to end (tiny sizes, a few requests): timings are not checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_smoke(out: str, *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--workers", "1", "--out", out, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One smoke run of every section, read by the tests of each one (a run costs seconds)."""
    out = tmp_path_factory.mktemp("bench-smoke")
    _run_smoke(str(out))
    return out


@pytest.mark.nginx  # section 4 downloads through nginx
def test_bench_smoke_run_reports_every_section(full_run):
    tmp_path = full_run
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
    [data] = [f for f in os.listdir(tmp_path) if f.endswith(".json")]
    figures = json.load(open(tmp_path / data, encoding="utf-8"))
    [cleanup] = [value for key, value in figures.items() if key.startswith("5b.")]
    assert cleanup["exit"] == 0 and cleanup["left"] == 0, cleanup  # it ran, and removed every file
    downloads = figures["4. Public result downloads"]
    for path in ("phones_flask", "phones_nginx"):  # guests' phones beside a booth, both ways
        assert downloads[path]["errors"] == {}, downloads
        assert downloads[path]["phone_mbit_per_s"] > 0, downloads
        assert downloads[path]["booth_beside_p95"] > 0, downloads


@pytest.mark.nginx
def test_bench_smoke_throughput_answers_every_target(full_run):
    """PhotoChanger, the store-and-forward floor and the echo each answered without errors."""
    tmp_path = full_run
    [report] = [f for f in os.listdir(tmp_path) if f.endswith(".json")]
    data = json.load(open(tmp_path / report, encoding="utf-8"))["2. Throughput"]
    [cell] = [value for key, value in data.items() if key.endswith(" x2")]
    assert cell["errors"] == {}
    for target in ("pc", "floor", "echo"):
        assert cell[target]["rps"] > 0, cell


@pytest.mark.nginx
def test_bench_smoke_overhead_over_a_paced_link_answers_every_target(full_run):
    """Section 1 times each target on loopback and over a booth's paced link, without errors."""
    tmp_path = full_run
    [report] = [f for f in os.listdir(tmp_path) if f.endswith(".json")]
    data = json.load(open(tmp_path / report, encoding="utf-8"))["1. Platform overhead"]
    for key in ("40 KB", "40 KB over the link"):
        assert data[key]["errors"] == {}, data
        for target in ("pc", "floor", "echo"):
            assert data[key][f"{target}_p95"] > 0, data


def test_bench_smoke_capacity_with_answers_at_a_links_pace(tmp_path):
    """Section 3 with every provider answer paced (``--answer-mbit``) still completes every ingest."""
    _run_smoke(str(tmp_path), "--only", "3", "--answer-mbit", "16")
    [report] = [f for f in os.listdir(tmp_path) if f.endswith(".json")]
    data = json.load(open(tmp_path / report, encoding="utf-8"))["3. Capacity"]
    assert data["answer_mbit"] == 16
    assert data["errors"] == {} and data["ok"] == 10, data
    text = open(tmp_path / report.replace(".json", ".md"), encoding="utf-8").read()
    assert "16 Mbit/s link" in text


def test_bench_refuses_a_pace_that_is_no_speed(tmp_path):
    for bad in ("-5", "nan", "fast"):
        proc = subprocess.run(
            [sys.executable, "-m", "bench.run", "--smoke", "--answer-mbit", bad, "--out", str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        assert "--answer-mbit" in proc.stderr
    assert os.listdir(tmp_path) == []  # refused before anything ran
