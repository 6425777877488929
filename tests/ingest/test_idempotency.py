"""Replays never reach the provider twice (DESIGN.md §3, idempotency)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.mockserver import step
from tests.support.setup import configure_slot, gemini_slot

pytestmark = pytest.mark.db


@pytest.fixture
def app(shared):
    gemini_slot(shared.app)
    return shared.app


@pytest.fixture
def gemini(shared):
    return shared.gemini


@pytest.fixture
def server(app, shared):
    return shared.server


def test_same_idempotency_key_returns_the_same_job_and_calls_the_provider_once(server, gemini):
    first = post_photo(
        server.url, jpeg_bytes(color=(10, 20, 30)), headers={"Idempotency-Key": "booth-1-shot-7"}
    )
    # A retry after a dropped connection; the booth may even re-encode the photo.
    again = post_photo(
        server.url, jpeg_bytes(color=(99, 20, 30)), headers={"Idempotency-Key": "booth-1-shot-7"}
    )
    assert first.status_code == again.status_code == 200
    assert again.headers["X-Job-Id"] == first.headers["X-Job-Id"]
    assert again.content == first.content
    assert len(gemini.generate_requests) == 1


def test_same_bytes_to_the_same_slot_version_is_a_replay(app, server, gemini):
    photo = jpeg_bytes(color=(1, 2, 3))
    first = post_photo(server.url, photo)
    again = post_photo(server.url, photo)
    assert again.headers["X-Job-Id"] == first.headers["X-Job-Id"]
    assert len(gemini.generate_requests) == 1

    # The admin changed the slot: the same photo is processed anew.
    configure_slot(app, settings_json={"prompt": "Новый промпт"})
    third = post_photo(server.url, photo)
    assert third.status_code == 200
    assert third.headers["X-Job-Id"] != first.headers["X-Job-Id"]
    assert len(gemini.generate_requests) == 2


def test_same_bytes_to_another_slot_is_a_new_job(app, server, gemini):
    gemini_slot(app, "slot-002")
    photo = jpeg_bytes(color=(5, 6, 7))
    a = post_photo(server.url, photo, "slot-001")
    b = post_photo(server.url, photo, "slot-002")
    assert a.headers["X-Job-Id"] != b.headers["X-Job-Id"]
    assert len(gemini.generate_requests) == 2


def test_a_duplicate_arriving_while_the_first_runs_waits_for_it(server, gemini):
    gemini.enqueue(step("hang", seconds=1.5))
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [
            pool.submit(
                post_photo, server.url, jpeg_bytes(color=(70, 80, 90)), headers={"Idempotency-Key": "dup"}
            )
            for _ in range(3)
        ]
        responses = [f.result() for f in futures]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert len({r.headers["X-Job-Id"] for r in responses}) == 1
    assert len(gemini.generate_requests) == 1


def test_a_failed_job_is_not_replayed(server, gemini):
    gemini.enqueue("blocked_prompt")
    first = post_photo(server.url, jpeg_bytes(color=(3, 3, 3)), headers={"Idempotency-Key": "retry-me"})
    assert first.status_code == 502
    again = post_photo(server.url, jpeg_bytes(color=(3, 3, 3)), headers={"Idempotency-Key": "retry-me"})
    assert again.status_code == 200
    assert len(gemini.generate_requests) == 2
