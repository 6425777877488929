"""``make run`` as an operator starts it: no share tokens in the logs, no world-readable files."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import time

import pytest
import requests

from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.live_server import ROOT
from tests.support.net import free_port


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    """``make run`` (without re-installing) under the usual umask 022, its output in a file,
    after one ingest and one gallery visit."""
    tmp_path = tmp_path_factory.mktemp("make-run")
    port = free_port()
    instance = tmp_path / "instance"
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GUNICORN_", "DATABASE_URL", "MEDIA_ROOT"))
        },
        "INSTANCE_PATH": str(instance),
        "ADMIN_CREDENTIALS_FILE": str(instance / "credentials.json"),
        "WEB_CONCURRENCY": "2",
        "PYTHONUNBUFFERED": "1",
    }
    out = open(tmp_path / "make-run.log", "w+")
    proc = subprocess.Popen(
        ["make", "-o", "install", "run", f"PORT={port}", "HOST=127.0.0.1", f"VENV={ROOT}/.venv"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: os.umask(0o022),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 90
        while time.monotonic() < end:
            out.seek(0)
            if open(out.name).read().count("Worker ready") >= 2:
                break
            assert proc.poll() is None, open(out.name).read()
            time.sleep(0.2)
        password = re.search(r"ingest password: (\S+)", open(out.name).read()).group(1)
        resp = post_photo(url, jpeg_bytes(), password=password)
        assert resp.status_code == 200, resp.text
        requests.get(f"{url}/public/slots/slot-001?token=share-token-secret", timeout=5)
        time.sleep(0.5)
        yield url, instance, out.name
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        out.close()


def test_make_run_logs_no_query_strings(make_run):
    _, _, log = make_run
    text = open(log).read()
    assert "http.request" in text  # the app's own request line is there
    assert "share-token-secret" not in text


def test_make_run_keeps_files_0640_and_folders_0750(make_run):
    _, instance, _ = make_run

    modes = {}
    for path in (instance / "photochanger.db", *(instance / "media").rglob("*")):
        modes[str(path)] = stat.S_IMODE(path.stat().st_mode)
    files = {p: m for p, m in modes.items() if not os.path.isdir(p)}
    folders = {p: m for p, m in modes.items() if os.path.isdir(p)}
    # the booth photo itself is deleted once its result is stored (keep_input_hours defaults to 0)
    assert any("/results/" in p for p in files)
    assert all(m & 0o027 == 0 for m in files.values()), files
    assert all(m & 0o027 == 0 for m in folders.values()), folders
