"""A full media disk: 507 ``storage_full``, nothing partial kept, and ``/healthz`` says so."""

from __future__ import annotations

import os
import subprocess

import pytest
import requests
from sqlalchemy import func, select

from photochanger.extensions import db
from photochanger.models import JobHistory
from tests.support.booth import post_photo
from tests.support.images import noisy_jpeg

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")


@pytest.fixture
def small_media(tmp_path):
    """A 2 MB tmpfs for MEDIA_ROOT: a real ENOSPC from the kernel."""
    media = tmp_path / "small-media"
    media.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(media)], check=True)
    try:
        yield media
    finally:
        subprocess.run(["umount", "-l", str(media)], check=False)


def _files(root) -> list[str]:
    return sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files)


def test_full_media_disk_answers_507_and_keeps_nothing(app, live_server, small_media):
    server = live_server(workers=2, MEDIA_ROOT=str(small_media), HEALTH_MIN_FREE_MB="1")
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    filler = small_media / "filler"
    filler.write_bytes(b"\0" * (1800 * 1024))  # ~200 KB left, less than the photo
    photo = noisy_jpeg(1000, 800, quality=95)
    assert len(photo) > 300 * 1024
    before = _files(small_media)

    resp = post_photo(server.url, photo, timeout=30)
    assert resp.status_code == 507, (resp.status_code, resp.headers)
    body = resp.json()
    assert body["failure_reason"] == "storage_full"
    assert "место" in body["message"]
    assert _files(small_media) == before  # no spool, temp or half-written photo left
    # The disk filled while the photo arrived into its spool, its only copy: no job was begun.
    assert "job_id" not in body
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(JobHistory)) == 0

    health = requests.get(f"{server.url}/healthz", timeout=5)
    assert health.status_code == 503
    media = health.json()["checks"]["media"]
    assert media["status"] == "fail" and "free_space" in media["detail"]

    filler.unlink()
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    assert post_photo(server.url, photo, timeout=30).status_code == 200
