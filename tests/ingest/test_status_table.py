"""Every row of the ingest status table (DESIGN.md §3), over real HTTP to gunicorn."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from photochanger.extensions import db
from photochanger.models import JobHistory
from tests.support.booth import booth_body, post_photo
from tests.support.images import jpeg_bytes, noisy_jpeg, open_image, png_bytes, webp_bytes
from tests.support.mockserver import step
from tests.support.net import free_port
from tests.support.setup import configure_slot, gemini_slot, set_settings


def error_of(resp: requests.Response, status: int, reason: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["status"] == "error"
    assert body["failure_reason"] == reason
    assert body["message"] and any("а" <= ch <= "я" for ch in body["message"].lower()), body
    return body


def job(app, job_id: str) -> JobHistory:
    with app.app_context():
        found = db.session.get(JobHistory, job_id)
        assert found is not None
        db.session.expunge(found)
        return found


@pytest.fixture
def app(shared):
    return shared.app


@pytest.fixture
def gemini(shared):
    return shared.gemini


@pytest.fixture
def server(shared):
    return shared.server


# -- 200 ---------------------------------------------------------------------


@pytest.mark.db
@pytest.mark.parametrize("path", ["/ingest", "/api/ingest"])
def test_200_processed_image_with_headers_and_downloadable_result(app, server, path):
    photo = jpeg_bytes(800, 600)
    resp = post_photo(server.url, photo, path=path)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    assert resp.headers["Cache-Control"] == "no-store"
    assert open_image(resp.content).size == (800, 600)
    assert resp.content != photo
    job_id = resp.headers["X-Job-Id"]
    assert resp.headers["X-Result-Url"] == f"{server.url}/public/results/{job_id}"

    download = requests.get(resp.headers["X-Result-Url"], timeout=10)
    assert download.status_code == 200
    assert download.content == resp.content
    assert "attachment" in download.headers["Content-Disposition"]

    stored = job(app, job_id)
    assert stored.status == "done"
    assert stored.hash_matched is True
    assert stored.metadata_json["user_id"] == "Acer"
    assert "password" not in stored.metadata_json


@pytest.mark.parametrize("field", ["image", "file"])
def test_200_file_under_alias_field_names(server, field):
    resp = post_photo(server.url, png_bytes(), field=field, filename="shot.png")
    assert resp.status_code == 200, resp.text


def test_200_webp_input_accepted_by_its_bytes(server):
    resp = post_photo(server.url, webp_bytes(), filename="IMG_0001.JPG")
    assert resp.status_code == 200, resp.text


def test_200_gemini_png_answer_returned_with_matching_content_type(app, server, gemini):
    gemini_slot(app)
    resp = post_photo(server.url, jpeg_bytes())
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "image/png"
    assert resp.content.startswith(b"\x89PNG")


def test_200_slot_may_ask_for_jpeg_for_printing(app, server, gemini):
    gemini_slot(app, output_format="jpeg")
    resp = post_photo(server.url, jpeg_bytes())
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert resp.content.startswith(b"\xff\xd8\xff")


@pytest.mark.db
def test_hash_mismatch_is_only_logged_by_default(app, server):
    resp = post_photo(server.url, jpeg_bytes(), hash_value="7b6c683e1d3fd29c8701791c54e3c12a236f5a5b")
    assert resp.status_code == 200
    assert job(app, resp.headers["X-Job-Id"]).hash_matched is False


# -- 400 ---------------------------------------------------------------------


def test_400_missing_file(server):
    resp = requests.post(
        f"{server.url}/ingest/slot-001", data={"password": "123456"}, files={"x": ("a", b"")}
    )
    error_of(resp, 400, "bad_request")


def test_400_not_multipart(server):
    resp = requests.post(f"{server.url}/ingest/slot-001", json={"password": "123456"}, timeout=10)
    error_of(resp, 400, "bad_request")


def test_400_malformed_multipart(server):
    body = b'--XYZ\r\nContent-Disposition: form-data; name="password"\r\n\r\n123456\r\n--XYZ\r\nbroken'
    resp = requests.post(
        f"{server.url}/ingest/slot-001",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=XYZ"},
        timeout=10,
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["failure_reason"] == "bad_request"


def test_400_overlong_idempotency_key(server):
    resp = post_photo(server.url, jpeg_bytes(), headers={"Idempotency-Key": "k" * 201})
    error_of(resp, 400, "bad_request")


# -- 401 ---------------------------------------------------------------------


@pytest.mark.parametrize("password", ["wrong", "", None])
def test_401_wrong_or_missing_password(server, password):
    error_of(post_photo(server.url, jpeg_bytes(), password=password), 401, "unauthorized")


# -- 404 ---------------------------------------------------------------------


def test_404_unknown_slot(server):
    error_of(post_photo(server.url, jpeg_bytes(), slot_id="slot-099"), 404, "slot_not_found")


def test_404_inactive_slot(app, server):
    configure_slot(app, "slot-002", is_active=False)
    error_of(post_photo(server.url, jpeg_bytes(), slot_id="slot-002"), 404, "slot_inactive")


# -- 409 ---------------------------------------------------------------------


def test_409_hash_mismatch_in_strict_mode(app, server):
    """Only the strict setting refuses these well-formed requests: 409, as the spec says."""
    set_settings(app, ingest_hash_mode="strict")
    error_of(post_photo(server.url, jpeg_bytes(), hash_value="0" * 40), 409, "hash_mismatch")
    error_of(post_photo(server.url, jpeg_bytes(), hash_value=None), 409, "hash_mismatch")
    assert post_photo(server.url, jpeg_bytes()).status_code == 200


# -- 413 ---------------------------------------------------------------------


def test_413_over_the_configured_limit(app, server):
    set_settings(app, upload_limit_mb=1)
    big = jpeg_bytes(3000, 3000, quality=100)
    assert len(big) > 1024 * 1024
    error_of(post_photo(server.url, big), 413, "payload_too_large")


def test_413_over_the_hard_cap_before_reading_the_body(server):
    body = b"x" * (21 * 1024 * 1024)
    resp = requests.post(
        f"{server.url}/ingest/slot-001",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=XYZ"},
        timeout=30,
    )
    error_of(resp, 413, "payload_too_large")


# -- 415 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [b"GIF89a" + b"\x00" * 100, b"%PDF-1.4 not a photo", b"\xff\xd8\xff\xe0" + b"\x00" * 50],
    ids=["gif", "pdf", "truncated-jpeg"],
)
def test_415_not_an_image_by_its_bytes_whatever_it_claims(server, payload):
    error_of(post_photo(server.url, payload, filename="IMG_0003.JPG"), 415, "unsupported_media_type")


@pytest.mark.db
def test_415_a_photo_cut_short_in_its_pixels_is_refused_before_anything_is_stored(server, app):
    photo = noisy_jpeg(2400, 1600)
    with app.app_context():
        jobs_before = db.session.query(JobHistory).count()
    resp = post_photo(server.url, photo[: len(photo) * 2 // 3])
    error_of(resp, 415, "unsupported_media_type")
    assert "повреждён" in resp.json()["message"]
    with app.app_context():
        assert db.session.query(JobHistory).count() == jobs_before


# -- 429 ---------------------------------------------------------------------


def _burst(server_url: str, count: int, slots: list[str]) -> list[requests.Response]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [
            pool.submit(
                post_photo, server_url, jpeg_bytes(color=(i * 30, 200 - i * 20, 90)), slots[i % len(slots)]
            )
            for i in range(count)
        ]
        return [f.result() for f in futures]


def test_429_slot_limit_holds_across_two_gunicorn_workers(app, shared, gemini):
    gemini_slot(app)
    set_settings(app, concurrency_per_slot=2)
    bursts = 4
    gemini.enqueue(*[step("hang", seconds=2.0)] * (2 * bursts))  # two reach the provider per burst
    server = shared.start_server(workers=2)
    for _ in server.rounds_until_shared("ingest.done", "request.rejected", rounds=bursts):
        responses = _burst(server.url, 8, ["slot-001"])
        codes = sorted(r.status_code for r in responses)
        assert codes == [200, 200] + [429] * 6, [r.text[:200] for r in responses]
        for r in responses:
            if r.status_code == 429:
                error_of(r, 429, "slot_busy")
                assert int(r.headers["Retry-After"]) > 0


def test_429_provider_limit_across_slots(app, shared, gemini):
    for slot_id in ("slot-001", "slot-002", "slot-003"):
        gemini_slot(app, slot_id)
    set_settings(app, concurrency_per_provider=1, concurrency_per_slot=4)
    gemini.enqueue(*[step("hang", seconds=2.0)] * 3)
    server = shared.start_server(workers=2)
    responses = _burst(server.url, 3, ["slot-001", "slot-002", "slot-003"])
    assert sorted(r.status_code for r in responses) == [200, 429, 429]
    for r in responses:
        if r.status_code == 429:
            error_of(r, 429, "provider_busy")


# -- 502 / 503 ---------------------------------------------------------------


@pytest.mark.db
@pytest.mark.parametrize(
    ("behaviour", "status", "reason"),
    [
        ("blocked_prompt", 502, "blocked"),
        ("image_safety", 502, "blocked"),
        ("model_not_found", 502, "bad_response"),
        ("quota", 503, "quota"),
        ("invalid_key", 503, "not_configured"),
    ],
)
def test_provider_failures_map_to_their_answer_without_retry(app, server, gemini, behaviour, status, reason):
    gemini_slot(app)
    gemini.enqueue(behaviour)
    resp = post_photo(server.url, jpeg_bytes())
    body = error_of(resp, status, reason)
    assert len(gemini.generate_requests) == 1, "never retried"
    stored = job(app, body["job_id"])
    assert stored.status == "failed"
    assert stored.failure_reason == reason


def test_503_provider_without_key_is_not_configured(app, shared, gemini):
    gemini_slot(app)
    server = shared.start_server(GEMINI_API_KEY="")
    error_of(post_photo(server.url, jpeg_bytes()), 503, "not_configured")
    assert gemini.generate_requests == []


@pytest.mark.slow
def test_503_overloaded_provider_retried_until_the_deadline(app, server, gemini):
    gemini_slot(app)
    # The circuit breaker would stop the retries after 3 (tests/ingest/test_fast_failure.py).
    set_settings(app, sync_response_seconds=10, circuit_failure_threshold=100)
    gemini.enqueue(*["overloaded"] * 50)
    started = time.monotonic()
    resp = post_photo(server.url, jpeg_bytes())
    error_of(resp, 503, "provider_5xx")
    assert time.monotonic() - started < 11
    assert len(gemini.generate_requests) >= 3


@pytest.mark.slow
def test_503_unreachable_provider_is_network(app, shared):
    gemini_slot(app)
    set_settings(app, sync_response_seconds=10, circuit_failure_threshold=100)
    server = shared.start_server(GEMINI_API_BASE=f"http://127.0.0.1:{free_port()}")
    error_of(post_photo(server.url, jpeg_bytes()), 503, "network")


@pytest.mark.db
def test_502_no_image_twice_then_success_is_one_job_and_three_calls(app, server, gemini):
    gemini_slot(app)
    gemini.enqueue("no_image", "no_image", "success")
    resp = post_photo(server.url, jpeg_bytes())
    assert resp.status_code == 200, resp.text
    assert len(gemini.generate_requests) == 3
    assert job(app, resp.headers["X-Job-Id"]).provider_attempts == 3


# -- 504 ---------------------------------------------------------------------


def hanging_provider(app, gemini) -> None:
    """A Gemini slot whose provider hangs past a 10 s deadline."""
    gemini_slot(app)
    set_settings(app, sync_response_seconds=10)
    gemini.enqueue(step("hang", seconds=30))


@pytest.mark.db
@pytest.mark.slow
def test_504_hanging_provider_answers_within_deadline_and_cleans_up(app, server, gemini):
    hanging_provider(app, gemini)
    started = time.monotonic()
    resp = post_photo(server.url, jpeg_bytes())
    elapsed = time.monotonic() - started
    body = error_of(resp, 504, "timeout")
    assert elapsed < 11, elapsed
    stored = job(app, body["job_id"])
    assert stored.status == "timeout"
    assert stored.result_path is None
    status = requests.get(f"{server.url}/api/jobs/{body['job_id']}", timeout=5).json()
    assert status["status"] == "timeout"
    result = requests.get(f"{server.url}/public/results/{body['job_id']}", timeout=5)
    assert result.status_code == 404


@pytest.mark.db
@pytest.mark.slow
def test_504_deadline_counts_from_the_first_byte_not_the_last_header(app, server, gemini):
    hanging_provider(app, gemini)
    body, content_type = booth_body(jpeg_bytes())
    host, port = server.url.removeprefix("http://").split(":")
    stall = 4.0
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /ingest/slot-001 HTTP/1.1\r\n")
        time.sleep(stall)  # the rest of the headers trickle in late
        head = f"Host: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        sock.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 504 "), answer[:200]
    assert b'"failure_reason":"timeout"' in answer.replace(b" ", b"")
    # Counted from the headers' end it would be 10 s + the stall.
    assert elapsed < 10 + stall / 2, elapsed


# -- 500 ---------------------------------------------------------------------


@pytest.mark.db
def test_500_a_bug_answers_json_and_fails_the_job(app, server):
    # A slot whose stored settings the driver cannot handle: the code path of a bug.
    configure_slot(app, settings_json={"filter": "no-such-filter"})
    body = error_of(post_photo(server.url, jpeg_bytes()), 500, "internal")
    failed = job(app, body["job_id"])
    assert failed.status == "failed"
    assert failed.failure_reason == "internal"
