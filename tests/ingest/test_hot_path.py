"""The ingest hot path: one pass over the upload, few SQL statements."""

from __future__ import annotations

import gc
import hashlib
import io
import os
import uuid

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.infra.arriving import ArrivingBytes
from photochanger.infra.request import HashingUpload
from photochanger.ingest import after_answer
from photochanger.ingest import routes as ingest_routes
from photochanger.ingest.responses import image_response
from photochanger.ingest.service import IngestSuccess
from photochanger.media.spool import SPOOL_DIR, InputSpool
from photochanger.media.storage import preview_path
from photochanger.media.upload import read_upload
from photochanger.models import JobHistory, JobStatus, MediaKind, MediaObject, Slot, SlotTemplateMedia
from photochanger.runtime import services
from tests.conftest import INGEST_PASSWORD
from tests.support.images import jpeg_bytes, open_image, png_bytes
from tests.support.postgres import log_statements, psycopg2_url, statements_logged
from tests.support.setup import configure_slot, set_settings
from tests.support.statements import record_statements
from tests.support.templates import add_template

pytestmark = pytest.mark.db

#: the config generation (settings and slot come from the worker's copy), duplicate
#: check, job insert | input media, processing | result media, done. Commits are not
#: statements. On PostgreSQL each media row and status change is one statement: 5.
STATEMENT_BUDGET = 7

#: What reaches a PostgreSQL server per ingest: in autocommit, config generation |
#: duplicate check + job | input media with "processing" | result media with "done".
#: No BEGIN, no COMMIT, and no pool pings (pooled connections are checked without
#: a round trip: connection_check).
ROUND_TRIP_BUDGET = 5


def _post(client, photo: bytes, slot_id: str = "slot-001"):
    return client.post(
        f"/ingest/{slot_id}",
        data={
            "fileToUpload": (io.BytesIO(photo), "IMG_0001.JPG"),
            "password": INGEST_PASSWORD,
            "hash": hashlib.sha1(photo).hexdigest(),
        },
        headers={"Idempotency-Key": uuid.uuid4().hex},
        content_type="multipart/form-data",
    )


def _dialect(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


def _log_statements(app) -> tuple[str, str]:
    """Have the server log every statement of the app's database; its log file and the name."""
    with app.app_context():
        url = db.engine.url
        log = log_statements(psycopg2_url(url))
        db.session.remove()
        db.engine.dispose()  # the setting applies to new sessions
    return log, str(url.database)


def _add_templates(app, count: int) -> None:
    """An overlay slot with ``count`` PNG templates, registered the way admins do."""
    with app.app_context():
        store = services().store
        for position in range(count):
            media_id = uuid.uuid4().hex
            rel = f"templates/slot-001/{media_id}.png"
            store.write_atomic(rel, png_bytes(64, 48, alpha=True))
            db.session.add(
                MediaObject(id=media_id, kind=MediaKind.TEMPLATE, path=rel, mime="image/png", size_bytes=1)
            )
            db.session.add(
                SlotTemplateMedia(
                    slot_id="slot-001", media_kind="template", media_object_id=media_id, position=position
                )
            )
        db.session.commit()
    configure_slot(app, "slot-001", operation="overlay", settings_json={"filter": "none"})


@pytest.fixture
def previews_deferred(monkeypatch) -> list:
    """Deferred previews wait in a list: their own queries are not the ingest's."""
    pending: list = []
    monkeypatch.setattr(ingest_routes, "when_idle", pending.append)
    return pending


@pytest.mark.parametrize("templates", [0, 3])
def test_ingest_runs_a_fixed_small_number_of_statements(app, client, templates, previews_deferred):
    if templates:
        _add_templates(app, templates)
    assert _post(client, jpeg_bytes()).status_code == 200  # warm: first-request work is not per ingest
    seen, stop = record_statements(app, first_word=True)
    try:
        resp = _post(client, jpeg_bytes(color=(1, 2, 3)))
    finally:
        stop()
    assert resp.status_code == 200, resp.get_json()
    # No N+1 on templates: the count does not grow with them.
    assert len(seen) <= STATEMENT_BUDGET, seen
    if _dialect(app) == "postgresql":
        assert seen.count("INSERT") == 1 and seen.count("WITH") == 2, seen
    else:
        assert seen.count("INSERT") == 3 and seen.count("UPDATE") == 2, seen


def test_an_ingest_on_postgresql_makes_five_round_trips_to_the_server(app, client, previews_deferred):
    """Counted by the server itself: every statement it received for this database."""
    if _dialect(app) != "postgresql":
        pytest.skip("round trips are a cost of a database server")
    log, database = _log_statements(app)
    assert _post(client, jpeg_bytes()).status_code == 200  # warm
    start = os.path.getsize(log)
    resp = _post(client, jpeg_bytes(color=(7, 8, 9)))
    assert resp.status_code == 200, resp.get_json()
    lines = statements_logged(log, start, database, "WITH")
    received = [line.split(None, 1)[0].upper() for line in lines]
    assert len(received) == ROUND_TRIP_BUDGET, lines
    assert not [s for s in received if s in ("BEGIN", "COMMIT", "ROLLBACK", "SET")], received
    assert "SELECT 1" not in lines, "a pool ping"
    with app.app_context():
        job = db.session.get(JobHistory, resp.headers["X-Job-Id"])
        assert job is not None and job.status == JobStatus.DONE
        kinds = {m.kind for m in db.session.query(MediaObject).filter_by(job_id=job.job_id)}
        assert kinds == {MediaKind.INPUT, MediaKind.RESULT}


def test_admin_writes_on_postgresql_still_run_in_transactions(app, client, previews_deferred):
    """A connection the ingest switched to autocommit goes back to the pool with transactions on."""
    if _dialect(app) != "postgresql":
        pytest.skip("autocommit is switched on PostgreSQL only")
    assert _post(client, jpeg_bytes()).status_code == 200
    with app.app_context():
        connection = db.session.connection()
        assert connection.connection.dbapi_connection.autocommit is False
        db.session.execute(text("UPDATE slot SET display_name = 'не сохранится' WHERE id = 'slot-001'"))
        db.session.rollback()
        assert db.session.get(Slot, "slot-001").display_name != "не сохранится"


def test_ingest_writes_its_rows_without_the_orm_unit_of_work(app, client):
    """The job, media and status rows are prebuilt Core statements: no flush per ingest."""
    assert _post(client, jpeg_bytes()).status_code == 200
    flushes: list[int] = []

    def record(session, *_args):
        flushes.append(len(session.new) + len(session.dirty))

    event.listen(Session, "before_flush", record)
    try:
        resp = _post(client, jpeg_bytes(color=(4, 5, 6)))
    finally:
        event.remove(Session, "before_flush", record)
    assert resp.status_code == 200, resp.get_json()
    assert flushes == []
    with app.app_context():
        job = db.session.get(JobHistory, resp.headers["X-Job-Id"])
        assert job is not None and job.status == JobStatus.DONE and job.provider_attempts == 1
        kinds = {m.kind for m in db.session.query(MediaObject).filter_by(job_id=job.job_id)}
        assert kinds == {MediaKind.INPUT, MediaKind.RESULT}


def test_upload_part_is_hashed_while_parsed_and_kept_in_memory(app):
    photo = jpeg_bytes(800, 600)
    with app.test_request_context(
        "/ingest/slot-001",
        method="POST",
        data={"fileToUpload": (io.BytesIO(photo), "a.jpg"), "password": "x"},
        content_type="multipart/form-data",
    ) as ctx:
        stream = ctx.request.files["fileToUpload"].stream
        assert isinstance(stream, HashingUpload)  # not a spooled temporary file
        upload = read_upload(stream, "a.jpg", 15)
    assert upload.data == photo
    assert upload.sha1 == hashlib.sha1(photo).hexdigest()
    assert upload.sha256 == hashlib.sha256(photo).hexdigest()
    assert upload.mime == "image/jpeg"


def test_a_finished_ingest_frees_its_photo_without_waiting_for_the_garbage_collector(app, client):
    """Reference counting alone must free the upload: an object cycle through it
    would keep the whole photo in a worker until the collector's next full pass."""
    assert _post(client, jpeg_bytes()).status_code == 200  # warm
    gc.collect()
    gc.disable()
    try:
        resp = _post(client, jpeg_bytes(color=(4, 5, 6)))
        assert resp.status_code == 200
        resp.close()
        left = [o for o in gc.get_objects() if isinstance(o, (HashingUpload, ArrivingBytes, InputSpool))]
    finally:
        gc.enable()
    assert left == []


def _spooled(app) -> list[str]:
    with app.app_context():
        folder = services().store.abspath(SPOOL_DIR)
    return os.listdir(folder) if os.path.isdir(folder) else []


def _stored_input(app, job_id: str) -> bytes:
    with app.app_context():
        media = db.session.query(MediaObject).filter_by(job_id=job_id, kind=MediaKind.INPUT).one()
        return services().store.read(media.path)


@pytest.fixture
def writes(app, monkeypatch) -> list[str]:
    """Paths the media store writes from memory, in order."""
    with app.app_context():
        store = services().store
    seen: list[str] = []
    real = store.write_atomic

    def spy(relpath: str, data: bytes) -> str:
        seen.append(relpath)
        return real(relpath, data)

    monkeypatch.setattr(store, "write_atomic", spy)
    return seen


def test_the_photo_written_while_it_arrived_is_stored_without_a_second_write(app, client, writes):
    set_settings(app, keep_input_hours=1)  # the stored input is looked at below
    photo = jpeg_bytes(800, 600)
    resp = _post(client, photo)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert _stored_input(app, resp.headers["X-Job-Id"]) == photo
    assert [path for path in writes if path.startswith("inputs/")] == []  # renamed from its spool
    assert any(path.startswith("results/") for path in writes)
    assert _spooled(app) == []


def test_a_photo_that_cannot_be_spooled_is_stored_from_memory(app, client, writes):
    set_settings(app, keep_input_hours=1)  # the stored input is looked at below
    with app.app_context():
        blocked = services().store.abspath(SPOOL_DIR)
    os.makedirs(os.path.dirname(blocked), exist_ok=True)
    with open(blocked, "wb") as blocker:  # a file where the spool folder should be
        blocker.write(b"")
    photo = jpeg_bytes(800, 600)
    resp = _post(client, photo)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert _stored_input(app, resp.headers["X-Job-Id"]) == photo
    assert len([path for path in writes if path.startswith("inputs/")]) == 1


def test_the_stored_photo_is_the_chosen_file_part_even_when_another_was_spooled_first(app, client, writes):
    set_settings(app, keep_input_hours=1)  # the stored input is looked at below
    decoy, photo = jpeg_bytes(400, 300, color=(200, 10, 10)), jpeg_bytes(800, 600)
    resp = client.post(
        "/ingest/slot-001",
        data={
            "password": INGEST_PASSWORD,
            "attachment": (io.BytesIO(decoy), "other.jpg"),
            "fileToUpload": (io.BytesIO(photo), "IMG_0001.JPG"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert _stored_input(app, resp.headers["X-Job-Id"]) == photo
    assert len([path for path in writes if path.startswith("inputs/")]) == 1  # from memory
    assert _spooled(app) == []  # the decoy's spool is gone


def test_a_rejected_upload_leaves_no_spooled_photo(app, client):
    photo = jpeg_bytes(800, 600)
    resp = client.post(
        "/ingest/slot-001",
        data={"fileToUpload": (io.BytesIO(photo), "IMG_0001.JPG"), "password": "wrong"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 401
    assert _spooled(app) == []


def test_a_replayed_photo_leaves_no_spooled_copy(app, client):
    photo = jpeg_bytes(800, 600)
    fields = {"password": INGEST_PASSWORD, "hash": hashlib.sha1(photo).hexdigest()}
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    first = client.post(
        "/ingest/slot-001",
        data={**fields, "fileToUpload": (io.BytesIO(photo), "a.jpg")},
        headers=headers,
        content_type="multipart/form-data",
    )
    again = client.post(
        "/ingest/slot-001",
        data={**fields, "fileToUpload": (io.BytesIO(photo), "a.jpg")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert first.status_code == again.status_code == 200
    assert again.headers["X-Idempotent-Replay"] == "true"
    assert _spooled(app) == []
    with app.app_context():
        assert db.session.query(MediaObject).filter_by(kind=MediaKind.INPUT).count() == 1


def test_read_upload_still_accepts_plain_streams_and_enforces_the_limit():
    photo = jpeg_bytes()
    upload = read_upload(io.BytesIO(photo), None, 15)
    assert upload.sha256 == hashlib.sha256(photo).hexdigest()
    big = HashingUpload()
    big.write(b"\xff\xd8\xff" + b"\0" * (1024 * 1024 + 1))
    with pytest.raises(ApiError) as exc:
        read_upload(big, None, 1)  # type: ignore[arg-type]
    assert exc.value.reason == "payload_too_large"


def test_no_pooled_connection_is_held_during_the_provider_call(app, client, monkeypatch):
    """Hundreds of ingests wait on the provider at once; none may pin a DB connection."""
    with app.app_context():
        driver = services().drivers["local"]
    seen: list[int] = []
    real = driver.process

    def spy(job, ctx):
        seen.append(db.engine.pool.checkedout())
        return real(job, ctx)

    monkeypatch.setattr(driver, "process", spy)
    assert _post(client, jpeg_bytes()).status_code == 200
    assert seen == [0]


def test_no_pooled_connection_is_held_while_the_upload_is_read(app, client, monkeypatch, previews_deferred):
    """A booth on venue Wi-Fi uploads for seconds; the pool must not wait with it."""
    from photochanger.infra.request import StrictRequest

    seen: list[int] = []
    real = StrictRequest._get_file_stream

    def spy(self, *args, **kwargs):
        seen.append(db.engine.pool.checkedout())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(StrictRequest, "_get_file_stream", spy)
    _post(client, jpeg_bytes())  # warm-up: the first request also pays one-off work
    seen.clear()
    seen_statements, stop = record_statements(app, first_word=True)
    try:
        assert _post(client, jpeg_bytes(color=(9, 9, 9))).status_code == 200
    finally:
        stop()
    assert seen == [0]
    assert len(seen_statements) <= STATEMENT_BUDGET  # releasing did not cost a reload


def test_answer_streams_from_the_stored_result(app, client):
    """The booth's answer is the stored file, sent from disk, not a copy held in memory."""
    resp = _post(client, jpeg_bytes(color=(7, 7, 7)))
    assert resp.status_code == 200
    with app.app_context():
        job = db.session.get(JobHistory, resp.headers["X-Job-Id"])
        stored = services().store.read(job.result_path)
    assert resp.data == stored
    assert resp.headers["Content-Length"] == str(len(stored))

    with app.test_request_context("/ingest/slot-001", method="POST"):
        body = open(services().store.abspath(job.result_path), "rb")
        answer = image_response(IngestSuccess(job.job_id, body, len(stored), "image/jpeg"))
        assert answer.is_streamed and answer.direct_passthrough
        assert b"".join(answer.response) == stored
        answer.close()
        assert body.closed


def test_pending_preview_reads_the_result_from_disk_when_it_runs(app, client, previews_deferred):
    """A queue of deferred previews holds paths, so a burst's results are not kept in memory."""
    pending = previews_deferred
    resp = _post(client, jpeg_bytes(color=(3, 3, 3)))
    assert resp.status_code == 200 and len(pending) == 1
    with app.app_context():
        store = services().store
        job = db.session.get(JobHistory, resp.headers["X-Job-Id"])
        preview = preview_path(job.slot_id, job.job_id)
        assert not store.exists(preview)
        # Replace the stored result: the preview must be built from what is on disk now.
        store.write_atomic(job.result_path, jpeg_bytes(400, 100, color=(200, 10, 10)))
        pending[0]()
        built = open_image(store.read(preview))
    assert built.size[0] == 4 * built.size[1]  # the replacement's 4:1, not the original's shape


def test_deferred_previews_are_built_only_for_results_a_page_still_shows(app, client, previews_deferred):
    """After a burst only the newest ten results of a slot are shown; older previews would be waste."""
    pending = previews_deferred
    job_ids = [_post(client, jpeg_bytes(color=(n, n, n))).headers["X-Job-Id"] for n in range(12)]
    assert len(pending) == 12
    with app.app_context():
        for job in pending:
            job()
        store = services().store
        built = [store.exists(preview_path("slot-001", job_id)) for job_id in job_ids]
    assert built == [False, False] + [True] * 10
    # A skipped preview is built the moment someone asks for it.
    assert client.get(f"/public/results/{job_ids[0]}/preview").status_code == 200
    with app.app_context():
        assert services().store.exists(preview_path("slot-001", job_ids[0]))


def test_a_preview_is_built_when_whether_it_is_shown_cannot_be_told(
    app, client, monkeypatch, caplog, previews_deferred
):
    pending = previews_deferred
    job_id = _post(client, jpeg_bytes()).headers["X-Job-Id"]

    def broken(*_args):
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(after_answer, "is_shown", broken)
    caplog.clear()
    with app.app_context(), caplog.at_level("WARNING", logger="photochanger.ingest"):
        pending[0]()
        assert services().store.exists(preview_path("slot-001", job_id))
    assert [r.event for r in caplog.records if r.levelname == "WARNING"] == ["preview.check_failed"]


def test_a_failure_while_publishing_links_keeps_the_photo_recorded_and_removes_the_links(
    app, client, monkeypatch, previews_deferred
):
    """Turbotext fetches its inputs by URL; the disk fills up between two of them."""
    configure_slot(
        app,
        "slot-001",
        provider="turbotext",
        operation="style_transfer",
        settings_json={"prompt": "акварель"},
    )
    add_template(app, "slot-001", png_bytes(), "style")
    app.config["TURBOTEXT_API_KEY"] = "tt-test-key"
    with app.app_context():
        store = services().store
    links: list[str] = []
    real = store.link_or_copy

    def disk_full_on_the_second_link(src: str, dst: str) -> str:
        links.append(dst)
        if len(links) == 2:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(store, "link_or_copy", disk_full_on_the_second_link)
    resp = _post(client, jpeg_bytes())
    assert resp.status_code == 507, resp.get_json()  # a full disk is storage_full (docs/hardening.md)
    body = resp.get_json()
    assert body["failure_reason"] == "storage_full"
    assert len(links) == 2
    assert not os.path.exists(store.abspath(links[0]))  # the link already made is gone
    with app.app_context():
        job = db.session.get(JobHistory, body["job_id"])
        assert job is not None and job.status == JobStatus.FAILED
        media = db.session.query(MediaObject).filter_by(job_id=job.job_id).all()
        # The photo stays, with its row: cleanup finds it when it expires.
        assert [m.kind for m in media] == [MediaKind.INPUT]
        assert os.path.exists(store.abspath(media[0].path))
