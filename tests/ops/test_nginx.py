"""The shipped nginx/photochanger.conf in a real nginx in front of a real gunicorn."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time

import pytest
import requests

from photochanger.extensions import db
from photochanger.models import JobHistory
from tests.support.booth import booth_body, post_photo
from tests.support.images import jpeg_bytes, open_image
from tests.support.nginx import NGINX, NginxServer, render
from tests.support.ops import ensure_admin_credentials
from tests.support.raw_http import read_answer, start_post

pytestmark = [
    pytest.mark.nginx,
    pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed (make system-deps)"),
]


@pytest.fixture
def stack(app, app_env, live_server, tmp_path):
    ensure_admin_credentials(app_env["ADMIN_CREDENTIALS_FILE"])
    gunicorn = live_server(USE_X_ACCEL_REDIRECT="1")
    nginx = NginxServer(str(tmp_path / "nginx"), f"127.0.0.1:{gunicorn.port}", app_env["MEDIA_ROOT"])
    yield gunicorn, nginx
    nginx.stop()


def test_ingest_and_x_accel_download_through_nginx(app, stack):
    gunicorn, nginx = stack
    photo = jpeg_bytes(1600, 1200)
    resp = post_photo(nginx.url, photo, headers={"X-Request-Id": "booth-1"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    assert open_image(resp.content).size == (1600, 1200)
    assert resp.headers["X-Request-Id"] == "booth-1"
    job_id = resp.headers["X-Job-Id"]

    download = requests.get(f"{nginx.url}/public/results/{job_id}", timeout=10)
    assert download.status_code == 200
    assert download.content == resp.content
    assert download.headers["X-Media-Delivery"] == "x-accel"  # served by the internal location
    assert download.headers["Content-Type"] == "image/jpeg"
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert "X-Accel-Redirect" not in download.headers  # nginx consumes it
    # what nginx serves itself carries the security headers once each
    for name, value in (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY")):
        assert download.raw.headers.getlist(name) == [value], name
    assert "frame-ancestors 'none'" in download.headers["Content-Security-Policy"]
    # nginx writes the access-log line after the response is sent: give it a moment
    end = time.monotonic() + 5
    while "/_protected_media/results/slot-001/" not in nginx.access_log() and time.monotonic() < end:
        time.sleep(0.05)
    assert "/_protected_media/results/slot-001/" in nginx.access_log()

    # gunicorn itself answers with the redirect and no body
    direct = requests.get(f"{gunicorn.url}/public/results/{job_id}", timeout=10)
    assert direct.status_code == 200 and direct.content == b""
    assert direct.headers["X-Accel-Redirect"].startswith("/_protected_media/results/slot-001/")
    # the internal location is not reachable from outside
    assert requests.get(f"{nginx.url}{direct.headers['X-Accel-Redirect']}", timeout=10).status_code == 404


def test_expired_result_is_410_json_through_nginx(app, stack):
    _, nginx = stack
    resp = post_photo(nginx.url, jpeg_bytes(color=(10, 200, 10)))
    job_id = resp.headers["X-Job-Id"]
    with app.app_context():
        job = db.session.get(JobHistory, job_id)
        job.result_expires_at = job.result_expires_at - dt.timedelta(days=10)
        db.session.commit()
    gone = requests.get(f"{nginx.url}/public/results/{job_id}", timeout=10)
    assert gone.status_code == 410
    assert gone.json()["failure_reason"] == "result_expired"


def _raw_request(port: int, head: str, body: bytes = b"") -> tuple[str, dict[str, str], bytes, float]:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        header_blob, _, rest = data.partition(b"\r\n\r\n")
        lines = header_blob.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return lines[0], headers, rest, time.monotonic() - started


def test_oversized_body_is_413_json_before_upload(stack):
    _, nginx = stack
    size = 25 * 1024 * 1024
    head = (
        "POST /ingest/slot-001 HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{nginx.port}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {size}\r\n"
        "Expect: 100-continue\r\n"
        "\r\n"
    )
    status, headers, body, elapsed = _raw_request(nginx.port, head)  # no body byte sent
    assert status.startswith("HTTP/1.1 413"), status
    assert headers["content-type"].startswith("application/json")
    payload = json.loads(body.decode("utf-8"))
    assert payload["status"] == "error" and payload["failure_reason"] == "payload_too_large"
    assert "слишком большой" in payload["message"]
    assert elapsed < 5
    assert "/ingest/slot-001" not in _upstream_lines(nginx)  # gunicorn never saw it


def test_body_within_the_nginx_limit_reaches_the_app(stack):
    """21 MB passes nginx; the app's own limit (15 MB by default) answers with its JSON."""
    _, nginx = stack
    photo = b"\xff\xd8\xff" + b"\0" * (16 * 1024 * 1024)
    resp = post_photo(nginx.url, photo, hash_value=None)
    assert resp.status_code == 413
    assert resp.json()["failure_reason"] == "payload_too_large"


def test_template_render_fills_only_named_variables():
    out = render("server ${PHOTOCHANGER_UPSTREAM}; set $x $host;", {"PHOTOCHANGER_UPSTREAM": "app:8000"})
    assert out == "server app:8000; set $x $host;"
    with pytest.raises(KeyError):
        render("${MISSING}", {})


def _upstream_lines(nginx: NginxServer) -> str:
    return "\n".join(line for line in nginx.access_log().splitlines() if "upstream_status=2" in line)


def test_half_sent_uploads_from_one_address_are_capped_by_nginx(stack):
    """Issue 20, row 2 behind nginx: beyond 8 uploads at once from one address, 429 JSON at once."""
    _, nginx = stack
    photo = b"\xff\xd8\xff" + os.urandom(4 * 1024 * 1024)
    body, content_type = booth_body(photo)
    held = []
    try:
        for _ in range(8):
            sock = start_post(nginx.url, "/ingest/slot-001", content_type, len(body), timeout=5)
            sock.sendall(body[: 512 * 1024])
            held.append(sock)
        time.sleep(0.3)  # nginx has counted them
        for _ in range(3):
            with start_post(nginx.url, "/ingest/slot-001", content_type, len(body), timeout=5) as sock:
                sock.sendall(body[: 64 * 1024])
                answer = read_answer(sock)
            assert answer.status == 429, answer.body
            assert answer.json()["failure_reason"] == "too_many_uploads"
            assert answer.headers["retry-after"] == "5"
        assert requests.get(f"{nginx.url}/healthz", timeout=1).status_code == 200
    finally:
        for sock in held:
            sock.close()
