"""Input photos (guests' faces) are not kept for the whole result TTL (issue 20, row 18).

About 1,150 jobs kept 7.4 GB on disk: every input stayed as long as its result.
Now a successful job's input is deleted once its result is stored, unless the
admin keeps inputs for some hours; a failed job's is kept 24 h (a setting) so
the admin can see what failed. The journal says the input was deleted.
"""

from __future__ import annotations

import datetime as dt
import os
import time

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.models import MediaKind, MediaObject
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.setup import configure_slot, set_settings


def _input_row(app, job_id: str) -> MediaObject:
    with app.app_context():
        row = db.session.query(MediaObject).filter_by(job_id=job_id, kind=MediaKind.INPUT).one()
        db.session.expunge(row)
        return row


def _wait_for(check, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.1)
    return check()


def _journal_entry(client, auth, job_id: str) -> dict:
    rows = client.get("/api/slots/slot-001/jobs", headers=auth).get_json()["jobs"]
    return next(row for row in rows if row["job_id"] == job_id)


def test_inputs_are_deleted_once_done_kept_when_asked_and_kept_a_day_when_failed(
    app, client, auth, app_env, live_server
) -> None:
    server = live_server(workers=2)
    media_root = app_env["MEDIA_ROOT"]

    # Default: deleted once the result is stored, on either worker.
    done = []
    for i in range(4):
        resp = post_photo(server.url, jpeg_bytes(color=(i, 10, 10)))
        assert resp.status_code == 200, resp.text
        done.append(resp.headers["X-Job-Id"])
    for job_id in done:
        path = os.path.join(media_root, _input_row(app, job_id).path)
        assert _wait_for(lambda path=path: not os.path.exists(path)), path
        assert _input_row(app, job_id).cleaned_at is not None
    entry = _journal_entry(client, auth, done[0])
    assert entry["input_url"] is None and entry["input_kept"] is False and entry["input_size"]
    gone = client.get(f"/api/slots/slot-001/jobs/{done[0]}/input", headers=auth)
    assert gone.status_code == 410 and gone.get_json()["failure_reason"] == "media_expired"
    assert "удалено" in gone.get_json()["message"]

    # Kept for 2 hours when the admin asks; the clean-up removes it then.
    set_settings(app, keep_input_hours=2)
    resp = post_photo(server.url, jpeg_bytes(color=(9, 9, 9)))
    kept = resp.headers["X-Job-Id"]
    in_two_hours = utcnow() + dt.timedelta(hours=2)
    assert _wait_for(lambda: abs(_input_row(app, kept).expires_at - in_two_hours) < dt.timedelta(minutes=1))
    assert os.path.exists(os.path.join(media_root, _input_row(app, kept).path))
    assert _journal_entry(client, auth, kept)["input_url"]

    # A failed job's input stays 24 hours by default (an overlay slot without its frame fails).
    configure_slot(app, operation="overlay", settings_json={"filter": "none"})
    resp = post_photo(server.url, jpeg_bytes(color=(7, 7, 7)))
    assert resp.status_code == 503, resp.text
    failed = resp.json()["job_id"]
    in_a_day = utcnow() + dt.timedelta(hours=24)
    assert _wait_for(lambda: abs(_input_row(app, failed).expires_at - in_a_day) < dt.timedelta(minutes=1))
    assert _input_row(app, failed).cleaned_at is None
    assert os.path.exists(os.path.join(media_root, _input_row(app, failed).path))


def test_retention_is_on_the_settings_api(client, auth) -> None:
    got = client.get("/api/settings", headers=auth).get_json()
    assert (got["keep_input_hours"], got["keep_failed_input_hours"]) == (0, 24)
    resp = client.put(
        "/api/settings", json={"keep_input_hours": 6, "keep_failed_input_hours": 0}, headers=auth
    )
    assert resp.status_code == 200, resp.get_json()
    got = client.get("/api/settings", headers=auth).get_json()
    assert (got["keep_input_hours"], got["keep_failed_input_hours"]) == (6, 0)
    bad = client.put("/api/settings", json={"keep_input_hours": 721}, headers=auth)
    assert bad.status_code == 400 and bad.get_json()["failure_reason"] == "bad_request"
