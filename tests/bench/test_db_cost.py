"""bench.db_cost still runs: a few ingests on a private PostgreSQL, costs and round trips printed."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tempfile

from tests.bench.test_bench_smoke import ROOT


def _scratch_folders() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "photochanger-dbcost-*")))


def test_db_cost_prints_the_costs_and_every_statement_of_an_ingest():
    before = _scratch_folders()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.db_cost", "--count", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert _scratch_folders() <= before  # its scratch folder is gone
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "3 ingests: wall" in proc.stdout and "database server CPU" in proc.stdout, proc.stdout
    # The count itself is pinned by tests/ingest/test_hot_path.py.
    assert re.search(r"\n  [1-9]\d* statements reached the server for one ingest:\n  SELECT", proc.stdout), (
        proc.stdout
    )
