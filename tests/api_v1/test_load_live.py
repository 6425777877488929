"""The integration API under load over gunicorn with 2 workers and the Gemini mock.

20 async jobs and a batch of 30 photos run while booths keep posting: every
booth gets its image, every job and photo of the batch gets its result. Then
the set of bad archives is refused with nothing stored.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from photochanger.extensions import db
from photochanger.models import ApiBatch, ApiTask, JobHistory, MediaObject
from tests.api_v1.test_jobs_live import finished, submit, wait_for
from tests.support.api_keys import admin_bearer, api_post, new_key
from tests.support.app import dispose_app, make_app, make_env
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.live_server import LiveServer
from tests.support.mock_gemini import MockGemini
from tests.support.mockserver import step
from tests.support.setup import gemini_slot
from tests.support.zips import bad_zips, make_zip, photos

pytestmark = [pytest.mark.db, pytest.mark.slow]

MAX_FILES, MAX_MB = 40, 8
BOOTH_SLOTS = ("slot-001", "slot-005", "slot-006")  # slot-001 is shared with the API jobs


class Deployment:
    def __init__(self, app: Any, server: LiveServer, gemini: MockGemini, media_root: str) -> None:
        self.app, self.server, self.gemini = app, server, gemini
        self.api_inputs = os.path.join(media_root, "api")
        self.url = server.url
        self.key = new_key(server.url, admin_bearer(server.url), rate_per_minute=6000)["api_key"]

    def stored_inputs(self) -> set[str]:
        return set(os.listdir(self.api_inputs)) if os.path.isdir(self.api_inputs) else set()

    def count(self, model: Any) -> int:
        with self.app.app_context():
            n = db.session.execute(select(func.count()).select_from(model)).scalar_one()
            db.session.rollback()
            return int(n)


@pytest.fixture(scope="module")
def deployment(database_factory, tmp_path_factory) -> Iterator[Deployment]:
    env = make_env(tmp_path_factory.mktemp("api-load") / "instance", database_factory())
    with pytest.MonkeyPatch.context() as mp, MockGemini(default=step("hang", seconds=0.3)) as gemini:
        app = make_app(env, mp)
        for slot_id in ("slot-001", "slot-002", "slot-003", "slot-005", "slot-006"):
            gemini_slot(app, slot_id)
        server_env = {
            **env,
            "GEMINI_API_BASE": gemini.url,
            "GEMINI_API_KEY": "k",
            "BATCH_MAX_FILES": str(MAX_FILES),
            "BATCH_MAX_UNPACKED_MB": str(MAX_MB),
            "API_POLL_SECONDS": "0.3",
        }
        server = LiveServer(server_env, workers=2)
        try:
            yield Deployment(app, server, gemini, env["MEDIA_ROOT"])
        finally:
            server.stop()
            dispose_app(app)


def _booth(url: str, slot_id: str, shots: int, answers: list[int]) -> None:
    for n in range(shots):  # a booth sends its photos one after another
        answers.append(post_photo(url, jpeg_bytes(100 + n, 80), slot_id=slot_id, timeout=90).status_code)


def test_jobs_and_a_batch_run_while_booths_get_every_answer(deployment):
    url, key = deployment.url, deployment.key
    answers: list[int] = []
    booths = [threading.Thread(target=_booth, args=(url, s, 8, answers)) for s in BOOTH_SLOTS]
    for booth in booths:
        booth.start()
    jobs = [
        submit(url, key, ("slot-001", "slot-002")[n % 2], jpeg_bytes(200 + n, 90))["job_id"]
        for n in range(20)
    ]
    resp = api_post(
        url,
        key,
        "batches",
        "slot-003",
        {"archive": ("event.zip", make_zip(photos(30, start=500)), "application/zip")},
    )
    assert resp.status_code == 202, resp.text
    batch = resp.json()
    for booth in booths:
        booth.join(120)
    assert answers == [200] * 24, answers

    results = [wait_for(url, key, job_id, finished, timeout=120) for job_id in jobs]
    assert [r["status"] for r in results] == ["done"] * 20, results
    for r in results:
        assert requests.get(r["result_url"], timeout=10).status_code == 200
    end = time.monotonic() + 120
    while not (progress := requests.get(batch["status_url"], headers={"X-API-Key": key}, timeout=10).json())[
        "finished"
    ]:
        assert time.monotonic() < end, progress
        time.sleep(0.2)
    assert progress["counts"]["done"] == 30

    archive = requests.get(batch["results_url"], headers={"X-API-Key": key}, timeout=60)
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as results_zip:
        manifest = json.loads(results_zip.read("manifest.json"))["files"]
        assert len(manifest) == 30 and {m["status"] for m in manifest} == {"done"}
        assert len(results_zip.namelist()) == 31
    # both workers ran integration tasks, each attempt an ordinary job row of source "api"
    assert len(deployment.server.pids_that_logged("integration.task_done")) == 2
    with deployment.app.app_context():
        api_jobs = db.session.execute(
            select(func.count())
            .select_from(JobHistory)
            .where(JobHistory.source == "api", JobHistory.status == "done")
        ).scalar_one()
    assert api_jobs == 50


def test_the_bad_archive_set_is_refused_with_nothing_stored(deployment):
    before = {model: deployment.count(model) for model in (ApiBatch, ApiTask, MediaObject)}
    inputs = deployment.stored_inputs()
    for bad in bad_zips(MAX_FILES, MAX_MB):
        resp = api_post(
            deployment.url,
            deployment.key,
            "batches",
            "slot-003",
            {"archive": ("bad.zip", bad.data, "application/zip")},
        )
        assert resp.status_code == bad.status, (bad.label, resp.text)
        assert resp.json()["failure_reason"] == bad.reason, bad.label
    assert {model: deployment.count(model) for model in before} == before
    assert deployment.stored_inputs() == inputs


def test_photo_parts_over_the_wire_a_bad_one_refuses_the_lot_a_broken_one_fails_alone(deployment):
    before = {model: deployment.count(model) for model in (ApiBatch, ApiTask, MediaObject)}
    inputs = deployment.stored_inputs()
    good = [("photos", (f"p{n}.jpg", jpeg_bytes(300 + n, 90), "image/jpeg")) for n in range(3)]
    refused = api_post(
        deployment.url,
        deployment.key,
        "batches",
        "slot-003",
        [*good, ("photos", ("notes.txt", b"hello", "text/plain"))],
    )
    assert refused.status_code == 415 and refused.json()["failure_reason"] == "zip_not_image", refused.text
    assert "notes.txt" in refused.json()["message"]
    assert {model: deployment.count(model) for model in before} == before
    assert deployment.stored_inputs() == inputs
    # Broken inside (a JPEG by its first bytes only): each fails at once, so no provider runs.
    broken = [("photos", ("same.jpg", jpeg_bytes(80, 60)[:200], "image/jpeg"))] * 2
    resp = api_post(deployment.url, deployment.key, "batches", "slot-003", broken)
    assert resp.status_code == 202, resp.text
    progress = requests.get(
        resp.json()["status_url"], headers={"X-API-Key": deployment.key}, timeout=10
    ).json()
    assert progress["finished"] and progress["counts"]["failed"] == 2
    assert [f["name"] for f in progress["files"]] == ["same.jpg", "same.jpg"]
