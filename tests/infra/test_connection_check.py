"""Pooled PostgreSQL connections: a live one is handed out without a word to the
server, one the server dropped is replaced before any statement runs on it."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import psycopg2
import pytest
from sqlalchemy import text

from photochanger.extensions import db
from photochanger.ingest import routes as ingest_routes
from tests.conftest import INGEST_PASSWORD
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.postgres import psycopg2_url

pytestmark = pytest.mark.db


@pytest.fixture
def observer(app) -> Iterator[psycopg2.extensions.connection]:
    """A connection of its own to the app's database, outside the app's pool."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("pooled connections to a server are a PostgreSQL matter")
        url = psycopg2_url(db.engine.url)
    conn = psycopg2.connect(url)
    conn.autocommit = True  # each query its own snapshot of pg_stat_activity
    yield conn
    conn.close()


def _activity(observer, pid: int) -> tuple | None:
    with observer.cursor() as cur:
        cur.execute("SELECT state, state_change, query FROM pg_stat_activity WHERE pid = %s", (pid,))
        return cur.fetchone()


def _pooled_pid(app) -> int:
    with app.app_context(), db.engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate_all_but(observer, *, keep: int) -> None:
    """What a database restart does to the sessions of the app's pool."""
    with observer.cursor() as cur:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> %s"
        cur.execute(query, (keep,))
        pids = [row[0] for row in cur.fetchall()]
        assert pids, "the app holds no pooled connection"
        for pid in pids:
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,))
            if cur.fetchone()[0] == 0:
                return
            time.sleep(0.02)
    raise AssertionError(f"backends {pids} still running")


def test_checking_out_a_pooled_connection_sends_nothing_to_the_server(app, observer):
    pid = _pooled_pid(app)
    before = _activity(observer, pid)
    assert before is not None and before[0] == "idle"
    with app.app_context(), db.engine.connect() as conn:
        assert conn.connection.dbapi_connection.get_backend_pid() == pid  # the same pooled session
        # A ping would have made the session active and changed its last query.
        assert _activity(observer, pid) == before


def test_a_connection_the_server_dropped_is_replaced_before_any_statement_runs_on_it(app, observer):
    pid = _pooled_pid(app)
    _terminate_all_but(observer, keep=observer.get_backend_pid())
    with app.app_context(), db.engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid


def _post(client, photo: bytes):
    data = {"fileToUpload": (io.BytesIO(photo), "IMG_0001.JPG"), "password": INGEST_PASSWORD}
    return client.post("/ingest/slot-001", data=data, content_type="multipart/form-data")


def test_a_photo_sent_after_the_database_dropped_its_sessions_is_answered(app, client, observer, monkeypatch):
    monkeypatch.setattr(ingest_routes, "when_idle", lambda task: None)  # only the ingest uses the pool
    assert _post(client, jpeg_bytes()).status_code == 200
    _terminate_all_but(observer, keep=observer.get_backend_pid())
    resp = _post(client, jpeg_bytes(color=(9, 9, 9)))
    assert resp.status_code == 200, resp.get_json()


def test_gunicorns_cooperative_connections_are_replaced_too(app, observer, live_server):
    """Under gevent psycopg2 waits through psycogreen's callback: the check must not block there."""
    server = live_server()
    assert post_photo(server.url, jpeg_bytes()).status_code == 200
    _terminate_all_but(observer, keep=observer.get_backend_pid())
    resp = post_photo(server.url, jpeg_bytes(color=(5, 6, 7)))
    assert resp.status_code == 200, resp.text
