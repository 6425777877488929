"""``flask backup`` / ``flask restore`` round trips on the suite's database (SQLite or PostgreSQL)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import tarfile
import time

import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import make_url

from photochanger import create_app
from photochanger.extensions import db
from photochanger.models import JobHistory, MediaObject
from photochanger.ops import media_archive
from tests.support.app import dispose_app, make_env
from tests.support.booth import ingest_in_process
from tests.support.images import jpeg_bytes
from tests.support.setup import set_settings

pytestmark = pytest.mark.db  # the round trip runs on each engine the suite runs on


def _ingest(client, count: int, first_color: int = 0) -> dict[str, bytes]:
    """``count`` photos through the local provider: {job id: result bytes}, once their
    deferred previews exist (then every job has its input, result and preview)."""
    results = {}
    for i in range(count):
        resp = ingest_in_process(
            client, jpeg_bytes(color=(first_color + i * 30, 90, 150)), f"slot-00{i % 3 + 1}"
        )
        results[resp.headers["X-Job-Id"]] = resp.data
    media_root = client.application.config["MEDIA_ROOT"]
    deadline = time.monotonic() + 10
    for job_id in results:
        while not glob.glob(f"{media_root}/results/*/{job_id}/preview.webp") and time.monotonic() < deadline:
            time.sleep(0.02)
    return results


def _downloads(client, results: dict[str, bytes]) -> dict[str, bytes | int]:
    """Each job's public download: its bytes, or the status when it is not a 200."""
    got: dict[str, bytes | int] = {}
    for job_id in results:
        resp = client.get(f"/public/results/{job_id}")
        got[job_id] = resp.data if resp.status_code == 200 else resp.status_code
    return got


def _jobs(app) -> dict[str, str]:
    with app.app_context():
        return dict(db.session.execute(select(JobHistory.job_id, JobHistory.status)).all())


def _backup(runner, dest) -> None:
    done = runner.invoke(args=["backup", str(dest)])
    assert done.exit_code == 0, done.output


def test_restore_into_a_fresh_deployment(app, client, runner, database_factory, tmp_path, monkeypatch):
    set_settings(app, keep_input_hours=1)  # inputs kept past their results: the backup holds them too
    results = _ingest(client, 3)
    jobs = _jobs(app)
    dest = tmp_path / "backup"
    done = runner.invoke(args=["backup", str(dest)])
    assert done.exit_code == 0, done.output
    assert "media: 9 files" in done.output  # input, result and preview of each job
    engine = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
    dump = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3"}[engine]
    assert sorted(os.listdir(dest)) == sorted([dump, "manifest.json", "media.tar"])
    assert json.loads((dest / "manifest.json").read_text())["engine"] == engine

    # Another host: a migrated, empty database and an empty media folder.
    env = make_env(tmp_path / "fresh", database_factory())
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    fresh = create_app({"TESTING": True})
    try:
        done = fresh.test_cli_runner().invoke(args=["restore", str(dest)])
        assert done.exit_code == 0, done.output
        assert "media: 9 files" in done.output
        assert _jobs(fresh) == jobs
        assert _downloads(fresh.test_client(), results) == results
    finally:
        dispose_app(fresh)


def test_restore_refuses_a_deployment_in_use_unless_forced(app, client, runner, tmp_path):
    before = _ingest(client, 2)
    dest = tmp_path / "backup"
    _backup(runner, dest)
    after = _ingest(client, 1, first_color=200)

    refused = runner.invoke(args=["restore", str(dest)])
    assert refused.exit_code != 0
    assert "the database has rows" in refused.output and "job_history" in refused.output
    assert "has files" in refused.output and "--force" in refused.output
    assert _downloads(client, {**before, **after}) == {**before, **after}  # nothing touched

    # Lose everything: job rows and the media folder.
    with app.app_context():
        db.session.execute(delete(MediaObject))
        db.session.execute(delete(JobHistory))
        db.session.commit()
    shutil.rmtree(app.config["MEDIA_ROOT"])
    assert runner.invoke(args=["restore", str(dest)]).exit_code != 0  # the slots are still there

    done = runner.invoke(args=["restore", "--force", str(dest)])
    assert done.exit_code == 0, done.output
    assert set(_jobs(app)) == set(before)
    assert _downloads(client, before) == before
    (job_after,) = after
    assert _downloads(client, after)[job_after] in (404, 410)  # made after the backup


def test_unfinished_or_damaged_backups_are_refused(app, client, runner, tmp_path):
    _ingest(client, 1)
    dest = tmp_path / "backup"
    _backup(runner, dest)
    manifest = (dest / "manifest.json").read_text()
    engine = json.loads(manifest)["engine"]

    other = "sqlite" if engine == "postgresql" else "postgresql"
    (dest / "manifest.json").write_text(manifest.replace(f'"engine": "{engine}"', f'"engine": "{other}"'))
    done = runner.invoke(args=["restore", "--force", str(dest)])
    assert done.exit_code == 1 and f"the backup holds a {other} database" in done.output
    (dest / "manifest.json").write_text(manifest)

    with open(dest / "media.tar", "ab") as fh:
        fh.write(b"\0" * 512)
    done = runner.invoke(args=["restore", "--force", str(dest)])
    assert done.exit_code == 1 and "the manifest says" in done.output

    (dest / "manifest.json").unlink()
    done = runner.invoke(args=["restore", "--force", str(dest)])
    assert done.exit_code == 1 and "did not finish" in done.output


def test_backup_never_overwrites_and_a_failure_leaves_nothing(app, runner, tmp_path, monkeypatch):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("keep")
    done = runner.invoke(args=["backup", str(taken)])
    assert done.exit_code == 1 and "not an empty folder" in done.output
    assert os.listdir(taken) == ["notes.txt"]

    def broken(root: str, path: str) -> None:
        with open(path, "wb") as fh:
            fh.write(b"half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(media_archive, "write_tar", broken)
    dest = tmp_path / "full-disk"
    with pytest.raises(OSError):
        runner.invoke(args=["backup", str(dest)], catch_exceptions=False)
    assert os.listdir(dest) == []


def test_archive_skips_unfinished_files_and_keeps_links(tmp_path):
    root = tmp_path / "media"
    (root / "results/slot-001/job1").mkdir(parents=True)
    (root / "results/slot-001/job1/payload.jpg").write_bytes(b"result")
    (root / "results/slot-001/job1/.tmp-abc").write_bytes(b"half written")
    (root / "arriving").mkdir()
    (root / "arriving/.upload-xyz").write_bytes(b"still uploading")
    (root / ".healthz-probe").write_bytes(b"")
    (root / "provider-media").mkdir()
    os.link(root / "results/slot-001/job1/payload.jpg", root / "provider-media/m1.jpg")
    os.symlink("/etc/passwd", root / "provider-media/outside.jpg")

    archive = tmp_path / "media.tar"
    count = media_archive.write_tar(str(root), str(archive))
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == [
        "provider-media",
        "provider-media/m1.jpg",
        "provider-media/outside.jpg",
        "results",
        "results/slot-001",
        "results/slot-001/job1",
        "results/slot-001/job1/payload.jpg",
    ]
    assert members["provider-media/outside.jpg"].issym()  # the link, not /etc/passwd's contents
    assert members["results/slot-001/job1/payload.jpg"].islnk()  # sorted walk: provider-media first
    assert (count.files, count.bytes) == (2, len(b"result"))  # two names, one stored copy
    assert media_archive.has_files(str(root))
    assert not media_archive.has_files(str(tmp_path / "missing"))
