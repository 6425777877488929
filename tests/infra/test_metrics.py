"""/metrics: ingest, provider and media metrics; token; multiprocess mode under gunicorn."""

from __future__ import annotations

import io
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from photochanger.infra.multiproc import prepare_multiproc_dir
from photochanger.providers.base import FailureKind, ProviderError
from photochanger.runtime import services
from tests.conftest import INGEST_PASSWORD
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.mock_gemini import MockGemini
from tests.support.mockserver import step
from tests.support.ops import ensure_admin_credentials
from tests.support.setup import gemini_slot, set_settings

GEMINI_KEY = "metrics-gemini-key"


def sample(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def ingest(client, photo=None):
    return client.post(
        "/ingest/slot-001",
        data={
            "fileToUpload": (io.BytesIO(photo or jpeg_bytes()), "IMG_0003.JPG"),
            "password": INGEST_PASSWORD,
        },
        content_type="multipart/form-data",
    )


def test_ingest_metrics_in_process(app, client):
    before = client.get("/metrics").get_data(as_text=True)
    assert ingest(client).status_code == 200
    assert ingest(client, jpeg_bytes(color=(1, 2, 3))).status_code == 200
    resp = client.post("/ingest/slot-001", data={"password": "wrong"}, content_type="multipart/form-data")
    assert resp.status_code == 401
    app.extensions["photochanger.metrics"]["media"].expire()  # the figure is cached for a minute
    after = client.get("/metrics")
    assert after.status_code == 200
    assert after.mimetype == "text/plain"
    text = after.get_data(as_text=True)

    def delta(name, **labels):
        return sample(text, name, **labels) - sample(before, name, **labels)

    done = {"slot": "slot-001", "provider": "local", "outcome": "done"}
    assert delta("photochanger_ingest_duration_seconds_count", **done) == 2
    assert delta("photochanger_ingest_jobs_total", **done) == 2
    assert delta("photochanger_ingest_responses_total", slot="slot-001", status="200") == 2
    assert delta("photochanger_ingest_responses_total", slot="slot-001", status="401") == 1
    assert delta("photochanger_provider_call_seconds_count", provider="local", outcome="ok") == 2
    assert sample(text, "photochanger_ingest_in_flight") == 0
    # media bytes: the stored input and result of both jobs
    assert sample(text, "photochanger_media_bytes", kind="result") > 0
    assert sample(text, "photochanger_media_bytes", kind="input") > 0
    # the disk under MEDIA_ROOT, for the disk-filling alerts (prometheus/photochanger-alerts.yml)
    usage = shutil.disk_usage(app.config["MEDIA_ROOT"])
    assert 0 < sample(text, "photochanger_media_disk_free_bytes") <= usage.total
    assert sample(text, "photochanger_media_disk_size_bytes") == usage.total
    # the exporter's per-route HTTP metrics, by route and never by job id
    assert 'url_rule="/ingest/<slot_id>"' in text


def test_unknown_slot_ids_collapse_to_one_label(client):
    client.post("/ingest/../../etc", data={})
    client.post("/ingest/whatever-123", data={"password": "x"}, content_type="multipart/form-data")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'slot="whatever-123"' not in text
    assert sample(text, "photochanger_ingest_responses_total", slot="other", status="404") >= 1


def test_timeouts_retries_and_failures_are_counted(app, client, monkeypatch):
    with app.app_context():
        driver = services().drivers["local"]
    original = driver.process
    script = [
        ProviderError(FailureKind.PROVIDER_5XX, "overloaded", retryable=True),
        None,  # then success
        ProviderError(FailureKind.TIMEOUT, "provider deadline"),
        ProviderError(FailureKind.QUOTA, "quota"),
    ]

    def scripted(job, ctx):
        item = script.pop(0)
        if item is None:
            return original(job, ctx)
        raise item

    monkeypatch.setattr(driver, "process", scripted)
    before = client.get("/metrics").get_data(as_text=True)
    assert ingest(client, jpeg_bytes(color=(9, 9, 9))).status_code == 200
    assert ingest(client, jpeg_bytes(color=(8, 8, 8))).status_code == 504
    assert ingest(client, jpeg_bytes(color=(7, 7, 7))).status_code == 503
    text = client.get("/metrics").get_data(as_text=True)

    def delta(name, **labels):
        return sample(text, name, **labels) - sample(before, name, **labels)

    assert delta("photochanger_provider_retries_total", provider="local", failure_reason="provider_5xx") == 1
    assert delta("photochanger_provider_failures_total", provider="local", failure_reason="provider_5xx") == 1
    assert delta("photochanger_provider_failures_total", provider="local", failure_reason="quota") == 1
    assert delta("photochanger_provider_call_seconds_count", provider="local", outcome="timeout") == 1
    assert delta("photochanger_ingest_timeouts_total", slot="slot-001") == 1
    assert delta("photochanger_ingest_responses_total", slot="slot-001", status="504") == 1
    assert delta("photochanger_ingest_jobs_total", outcome="timeout", failure_reason="timeout") == 1
    assert delta("photochanger_ingest_jobs_total", outcome="failed", failure_reason="quota") == 1
    assert delta("photochanger_ingest_duration_seconds_count", slot="slot-001", outcome="timeout") == 1


def test_metrics_token(app, client):
    app.config["METRICS_TOKEN"] = "scrape-secret"
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing.get_json()["failure_reason"] == "unauthorized"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert ok.status_code == 200
    assert "photochanger_ingest_in_flight" in ok.get_data(as_text=True)


def test_prepare_multiproc_dir_removes_only_metric_files(tmp_path):
    (tmp_path / "counter_123.db").write_bytes(b"old")
    (tmp_path / "keep.txt").write_text("mine")
    prepare_multiproc_dir(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["keep.txt"]
    prepare_multiproc_dir(str(tmp_path / "new"))
    assert (tmp_path / "new").is_dir()


@pytest.mark.slow
def test_multiprocess_metrics_under_two_gunicorn_workers(app, app_env, live_server):
    """Counters from every worker are summed, whichever worker answers the scrape."""
    multiproc = os.path.join(app_env["INSTANCE_PATH"], "prometheus-multiproc")
    os.makedirs(multiproc)
    stale = os.path.join(multiproc, "counter_999999.db")
    with open(stale, "wb") as fh:
        fh.write(b"left by a previous master")
    # Six parallel ingests to one slot: above the default limit of 4 whenever they
    # overlap, and this test is about metrics, not limits.
    set_settings(app, sync_response_seconds=10, concurrency_per_slot=8)
    ensure_admin_credentials(app_env["ADMIN_CREDENTIALS_FILE"])
    with MockGemini(api_key=GEMINI_KEY) as gemini:
        gemini_slot(app, "slot-002")
        # slot-002 first retries an overloaded Gemini, then one call hangs past the deadline
        gemini.enqueue("overloaded", "success", step("hang", seconds=30))
        server = live_server(workers=2, GEMINI_API_BASE=gemini.url, GEMINI_API_KEY=GEMINI_KEY)
        assert not os.path.exists(stale)  # wiped at master start
        photos = [jpeg_bytes(color=(i * 40, 50, 90)) for i in range(6)]
        with ThreadPoolExecutor(8) as pool:
            local = list(pool.map(lambda p: post_photo(server.url, p), photos))
            retried = post_photo(server.url, jpeg_bytes(color=(200, 1, 1)), "slot-002")
            timed_out = post_photo(server.url, jpeg_bytes(color=(201, 1, 1)), "slot-002")
    assert [r.status_code for r in local] == [200] * 6
    assert retried.status_code == 200, retried.text
    assert timed_out.status_code == 504, timed_out.text

    for _ in range(6):  # new connections: the kernel spreads them over both workers
        resp = requests.get(f"{server.url}/metrics", headers={"Connection": "close"}, timeout=10)
        assert resp.status_code == 200
        text = resp.text
        assert sample(text, "photochanger_ingest_jobs_total", slot="slot-001", outcome="done") == 6
        assert sample(text, "photochanger_ingest_responses_total", status="504") == 1
        assert sample(text, "photochanger_ingest_timeouts_total", slot="slot-002") == 1
        assert sample(text, "photochanger_provider_retries_total", provider="gemini") == 1
        assert (
            sample(text, "photochanger_provider_call_seconds_count", provider="gemini", outcome="timeout")
            == 1
        )
        assert sample(text, "photochanger_ingest_in_flight") == 0
        assert "photochanger_ingest_in_flight{" not in text  # livesum: one series, no pid label
        assert sample(text, "photochanger_media_disk_size_bytes") > 0
        assert "photochanger_media_disk_free_bytes{" not in text  # mostrecent: one series
    assert any(name.endswith(".db") for name in os.listdir(multiproc))
