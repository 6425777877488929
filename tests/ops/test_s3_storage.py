"""MEDIA_STORAGE=s3 against a real S3 server (SeaweedFS), over gunicorn with two workers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import tarfile
import time
import zipfile

import pytest
import requests

from photochanger.extensions import db
from photochanger.models import JobHistory, JobStatus, MediaKind, MediaObject, Slot
from photochanger.runtime import services
from tests.support.booth import ingest_in_process, post_photo
from tests.support.images import jpeg_bytes, png_bytes
from tests.support.mock_turbotext import MockTurbotext
from tests.support.mockserver import step
from tests.support.net import free_port
from tests.support.nginx import NGINX, NginxServer
from tests.support.s3 import S3Server, weed_binary
from tests.support.setup import configure_slot, set_settings
from tests.support.templates import add_template

pytestmark = pytest.mark.db


@pytest.fixture
def bucket(s3_server):
    return s3_server.make_bucket()


@pytest.fixture
def app_env(app_env, s3_server, bucket):
    """Every app and gunicorn of these tests keeps its media in a fresh bucket."""
    return {**app_env, **s3_server.env(bucket)}


@pytest.fixture(autouse=True)
def _inputs_kept(app):
    """Input photos stay past their result (keep_input_hours), so their objects can be checked."""
    set_settings(app, keep_input_hours=1)


def _local_files(root: str) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]


def test_ingest_stores_in_the_bucket_and_the_link_redirects_to_it(
    app, app_env, live_server, s3_server, bucket
):
    server = live_server(workers=2)
    answers = [post_photo(server.url, jpeg_bytes(900, 600, color=(n * 50, 80, 120))) for n in range(4)]
    for resp in answers:
        assert resp.status_code == 200, resp.text
    job_id = answers[0].headers["X-Job-Id"]
    with app.app_context():
        job = db.session.get(JobHistory, job_id)
        result_key = job.result_path
    keys = s3_server.keys(bucket)
    assert result_key in keys
    assert any(k.startswith(f"inputs/slot-001/{job_id}.") for k in keys)
    # the media folder holds working copies only, and none is left behind
    assert _local_files(app_env["MEDIA_ROOT"]) == []

    link = requests.get(f"{server.url}/public/results/{job_id}", allow_redirects=False, timeout=10)
    assert link.status_code == 302
    assert link.headers["Cache-Control"] == "private, no-store"
    location = link.headers["Location"]
    assert location.startswith(f"{s3_server.url}/{bucket}/{result_key}?") and "X-Amz-Signature=" in location
    got = requests.get(location, timeout=10)
    assert got.status_code == 200
    assert got.content == answers[0].content
    assert got.headers["Content-Type"] == "image/jpeg"
    assert got.headers["Content-Disposition"] == f'attachment; filename="photochanger-{job_id}.jpg"'

    # the preview and the gallery ZIP stream from the bucket
    preview = requests.get(f"{server.url}/public/results/{job_id}/preview", timeout=10)
    assert preview.status_code == 200 and preview.headers["Content-Type"] == "image/webp"
    with app.app_context():
        token = db.session.get(Slot, "slot-001").gallery_token
    archive = requests.get(f"{server.url}/public/slots/slot-001/photos.zip?token={token}", timeout=10)
    assert archive.status_code == 200
    assert int(archive.headers["Content-Length"]) == len(archive.content)
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        stored = sorted(zipped.read(name) for name in zipped.namelist())
    assert stored == sorted(resp.content for resp in answers)

    health = requests.get(f"{server.url}/healthz", timeout=10).json()
    assert health["checks"]["storage"] == {"status": "ok", "backend": "s3", "bucket": bucket}
    assert "storage" not in health["failing"]


@pytest.mark.nginx
@pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed (make system-deps)")
def test_accel_download_through_nginx_streams_the_object(app, app_env, live_server, s3_server, tmp_path):
    server = live_server(workers=2, S3_DOWNLOADS="accel")
    nginx = NginxServer(str(tmp_path / "nginx"), f"127.0.0.1:{server.port}", app_env["MEDIA_ROOT"])
    try:
        resp = post_photo(nginx.url, jpeg_bytes(1200, 800, color=(200, 30, 30)))
        assert resp.status_code == 200, resp.text
        job_id = resp.headers["X-Job-Id"]

        download = requests.get(f"{nginx.url}/public/results/{job_id}", timeout=10)
        assert download.status_code == 200, download.text
        part = requests.get(
            f"{nginx.url}/public/results/{job_id}", headers={"Range": "bytes=0-99"}, timeout=10
        )
        assert part.status_code == 206 and part.content == resp.content[:100]
        assert download.content == resp.content
        assert download.headers["X-Media-Delivery"] == "x-accel-s3"
        assert download.headers["Content-Type"] == "image/jpeg"
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert "X-Accel-Redirect" not in download.headers
        # two upstream hops: the app's redirect, then the S3 server's object (nginx logs after answering)
        line = f"GET /public/results/{job_id} HTTP/1.1 200 upstream_status=200 : 200"
        end = time.monotonic() + 5
        while line not in nginx.access_log() and time.monotonic() < end:
            time.sleep(0.02)
        assert line in nginx.access_log()

        direct = requests.get(f"{server.url}/public/results/{job_id}", timeout=10)
        assert direct.status_code == 200 and direct.content == b""
        target = direct.headers["X-Accel-Redirect"]
        assert target.startswith(f"/_s3_media/http/127.0.0.1:{s3_server.port}/")
        assert requests.get(f"{nginx.url}{target}", timeout=10).status_code == 404  # internal only

        # an object gone from the bucket is the app's JSON 404, not the S3 server's XML
        with app.app_context():
            key = db.session.get(JobHistory, job_id).result_path
        s3_server.client().delete_object(Bucket=app_env["S3_BUCKET"], Key=key)
        gone = requests.get(f"{nginx.url}/public/results/{job_id}", timeout=10)
        assert gone.status_code == 404 and gone.json()["failure_reason"] == "result_not_found"
    finally:
        nginx.stop()


def test_cleanup_removes_expired_objects_and_keeps_live_ones(app, client, runner, s3_server, bucket):
    jobs = []
    for n in range(3):
        resp = ingest_in_process(client, jpeg_bytes(color=(n * 60, 90, 40)))
        jobs.append(resp.headers["X-Job-Id"])
        assert client.get(f"/public/results/{jobs[-1]}/preview").status_code == 200
    expired, live = jobs[:2], jobs[2]
    with app.app_context():
        for job_id in expired:
            job = db.session.get(JobHistory, job_id)
            job.result_expires_at = job.result_expires_at - dt.timedelta(days=30)
            for media in db.session.query(MediaObject).filter_by(job_id=job_id):
                media.expires_at = media.expires_at - dt.timedelta(days=30)
        db.session.commit()

    result = runner.invoke(args=["cleanup-media"])
    assert result.exit_code == 0, result.output
    assert "expired media removed: 4" in result.output  # a result and an input per expired job

    keys = s3_server.keys(bucket)
    for job_id in expired:
        assert not [k for k in keys if job_id in k], keys  # payload, preview and input all gone
    assert any(k.startswith(f"results/slot-001/{live}/payload.") for k in keys)
    assert f"results/slot-001/{live}/preview.webp" in keys
    assert any(k.startswith(f"inputs/slot-001/{live}.") for k in keys)
    assert client.get(f"/public/results/{expired[0]}").status_code == 410
    assert client.get(f"/public/results/{live}").status_code == 302


def test_s3_stopped_is_503_with_nothing_half_stored(app, app_env, live_server):
    private = S3Server(weed_binary())  # its own server, to stop it without disturbing the other tests
    try:
        server = live_server(workers=2, **private.env(private.make_bucket()))
        before = post_photo(server.url, jpeg_bytes(color=(5, 5, 200)))
        assert before.status_code == 200, before.text
        private.stop()

        resp = post_photo(server.url, jpeg_bytes())
        assert resp.status_code == 503, resp.text
        body = resp.json()
        assert body["failure_reason"] == "storage_unavailable"
        assert body["message"] == "Хранилище фотографий временно недоступно, повторите позже"
        assert resp.headers["Content-Type"].startswith("application/json")
        assert resp.headers["Retry-After"] == "5"
        with app.app_context():
            job = db.session.get(JobHistory, body["job_id"])
            assert job.status == JobStatus.FAILED and job.failure_reason == "storage_unavailable"
            # no row without its object
            assert db.session.query(MediaObject).filter_by(job_id=job.job_id).count() == 0
        assert _local_files(app_env["MEDIA_ROOT"]) == []  # the spooled photo is gone too

        # the earlier result's link, its preview and its replay: 503, never 500
        earlier = before.headers["X-Job-Id"]
        for path in (f"/public/results/{earlier}", f"/public/results/{earlier}/preview"):
            got = requests.get(f"{server.url}{path}", allow_redirects=False, timeout=10)
            assert got.status_code == 503 and got.json()["failure_reason"] == "storage_unavailable", path
        again = post_photo(server.url, jpeg_bytes(color=(5, 5, 200)))
        assert again.status_code == 503 and again.json()["failure_reason"] == "storage_unavailable"

        health = requests.get(f"{server.url}/healthz", timeout=10)
        assert health.status_code == 503
        assert "storage" in health.json()["failing"]
        assert health.json()["checks"]["storage"]["status"] == "fail"
    finally:
        private.stop()


def test_backup_and_restore_snapshot_the_bucket(app, client, runner, s3_server, bucket, tmp_path):
    results = {}
    for n in range(2):
        resp = ingest_in_process(client, jpeg_bytes(color=(n * 90, 20, 200)), f"slot-00{n + 1}")
        results[resp.headers["X-Job-Id"]] = resp.data
    stored = {
        k: s3_server.client().get_object(Bucket=bucket, Key=k)["Body"].read() for k in s3_server.keys(bucket)
    }

    done = runner.invoke(args=["backup", str(tmp_path / "backup")])
    assert done.exit_code == 0, done.output
    with tarfile.open(tmp_path / "backup" / "media.tar") as tar:
        archived = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    assert {k: v for k, v in archived.items() if k in stored} == stored  # previews may have come since

    # Lose the bucket's objects and gain a stray one, then restore over it.
    client_s3 = s3_server.client()
    for key in s3_server.keys(bucket):
        client_s3.delete_object(Bucket=bucket, Key=key)
    client_s3.put_object(Bucket=bucket, Key="results/slot-009/stray/payload.jpg", Body=b"stray")
    refused = runner.invoke(args=["restore", str(tmp_path / "backup")])
    assert refused.exit_code != 0 and f"s3://{bucket} has files" in refused.output

    done = runner.invoke(args=["restore", "--force", str(tmp_path / "backup")])
    assert done.exit_code == 0, done.output
    assert f"restored into s3://{bucket}" in done.output
    assert sorted(s3_server.keys(bucket)) == sorted(archived)  # the stray object is gone
    for job_id, data in results.items():
        link = client.get(f"/public/results/{job_id}")
        assert link.status_code == 302
        assert requests.get(link.headers["Location"], timeout=10).content == data


def test_templates_and_provider_media_live_in_the_bucket(app, live_server, s3_server, bucket):
    """A URL-fetching provider gets the photo and the template from provider-media copies in the bucket."""
    with MockTurbotext(api_key="tt-test-key") as turbotext:
        server = live_server(
            TURBOTEXT_API_BASE=turbotext.url, TURBOTEXT_API_KEY="tt-test-key", TURBOTEXT_POLL_INTERVAL="0.1"
        )
        configure_slot(
            app, provider="turbotext", operation="style_transfer", settings_json={"prompt": "акварель"}
        )
        template_id = add_template(app, "slot-001", png_bytes(), "style")
        assert any(k.startswith(f"templates/slot-001/{template_id}.") for k in s3_server.keys(bucket))
        turbotext.enqueue(step("success"))
        resp = post_photo(server.url, jpeg_bytes())
        assert resp.status_code == 200, resp.text
        job = turbotext.jobs[-1]
        assert "/public/provider-media/" in job.form["url"]  # the template, streamed from the bucket
        assert turbotext.fetches and all(f.ok for f in turbotext.fetches)
    assert s3_server.keys(bucket, "provider-media/") == []  # the links died with the job
    assert any(k.startswith(f"results/slot-001/{resp.headers['X-Job-Id']}/") for k in s3_server.keys(bucket))


def test_cleanup_while_the_bucket_is_down_loses_nothing(app, client, runner, s3_server, bucket):
    job_id = ingest_in_process(client, jpeg_bytes()).headers["X-Job-Id"]
    with app.app_context():
        for media in db.session.query(MediaObject).filter_by(job_id=job_id):
            media.expires_at = media.expires_at - dt.timedelta(days=30)
        db.session.commit()
        store = services().store
        reachable = store.settings

    store.settings = dataclasses.replace(reachable, endpoint_url=f"http://127.0.0.1:{free_port()}")
    store._clients.clear()  # the S3 server "stops"
    down = runner.invoke(args=["cleanup-media"])
    assert down.exit_code == 1 and "media storage unavailable" in down.output
    with app.app_context():  # the input's claim was given back
        (photo,) = db.session.query(MediaObject).filter_by(job_id=job_id, kind=MediaKind.INPUT)
        assert photo.cleaned_at is None

    store.settings = reachable
    store._clients.clear()  # ... and is back
    up = runner.invoke(args=["cleanup-media"])
    assert up.exit_code == 0, up.output
    assert "expired media removed: 1 (input=1)" in up.output
    assert not [k for k in s3_server.keys(bucket, "inputs/") if job_id in k]
