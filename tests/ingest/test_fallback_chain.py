"""Fallback chains over real HTTP to gunicorn with 2 workers: handover, time shares, job attempts."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from photochanger.ingest.chain_call import STORE_MARGIN, call_chain
from photochanger.ingest.outcome import StepFailure
from photochanger.providers.base import ProviderResult
from photochanger.slots.chain import DEFAULT_TIME_SHARE, ChainStep
from tests.ingest.test_status_table import error_of
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes
from tests.support.mock_http_service import MockHttpService
from tests.support.net import free_port
from tests.support.setup import configure_slot, set_settings

LOCAL = {"provider": "local", "operation": "filter", "settings": {"filter": "sepia"}}
PROMPT = {"prompt": "Сделай фон пляжем"}


def chain_slot(app, fallbacks: list[dict], slot_id: str = "slot-001", **first: object) -> None:
    configure_slot(
        app,
        slot_id,
        provider="gemini",
        operation="image_edit",
        settings_json=PROMPT,
        chain_json={"fallbacks": fallbacks, **first},
    )


def job_of(url: str, job_id: str) -> dict:
    resp = requests.get(f"{url}/api/jobs/{job_id}", timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.mark.slow
def test_gemini_then_local_every_ingest_is_200_from_local_within_3_s_once_the_circuit_is_open(shared):
    chain_slot(shared.app, [LOCAL])
    set_settings(shared.app, sync_response_seconds=20)
    server = shared.start_server(workers=2, GEMINI_API_BASE=f"http://127.0.0.1:{free_port()}")
    answers = []
    for i in range(6):
        started = time.monotonic()
        answers.append((post_photo(server.url, jpeg_bytes(300 + i, 200)), time.monotonic() - started))
    for resp, _elapsed in answers:
        assert resp.status_code == 200, resp.text
        assert resp.headers["X-Provider"] == "local"
        assert resp.headers["Content-Type"].startswith("image/")
    assert all(elapsed < 3 for _r, elapsed in answers[1:]), [round(e, 2) for _r, e in answers]

    first = job_of(server.url, answers[0][0].headers["X-Job-Id"])
    assert first["provider"] == "local" and first["answered_step"] == 1
    outcomes = [(a["step"], a["provider"], a["outcome"]) for a in first["attempt_log"]]
    # refused three times, the circuit opened, and local answered
    assert outcomes == [(0, "gemini", "network")] * 3 + [(1, "local", "ok")], outcomes
    later = job_of(server.url, answers[-1][0].headers["X-Job-Id"])
    outcomes = [(a["provider"], a["outcome"]) for a in later["attempt_log"]]
    assert outcomes == [("gemini", "provider_unavailable"), ("local", "ok")]
    assert all(isinstance(a["duration_ms"], int) for a in later["attempt_log"])


def test_a_slot_without_fallbacks_answers_as_before_and_names_its_provider(shared):
    configure_slot(shared.app, provider="gemini", operation="image_edit", settings_json=PROMPT)
    shared.gemini.enqueue("no_image", "success")
    resp = post_photo(shared.url, jpeg_bytes(310, 200))
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Provider"] == "gemini"
    job = job_of(shared.url, resp.headers["X-Job-Id"])
    assert job["answered_step"] == 0
    assert [a["outcome"] for a in job["attempt_log"]] == ["bad_response", "ok"]
    replay = post_photo(shared.url, jpeg_bytes(310, 200))
    assert replay.headers["X-Idempotent-Replay"] == "true"
    assert replay.headers["X-Provider"] == "gemini"


def test_the_step_retry_policy_limits_its_attempts_before_handing_over(shared):
    chain_slot(shared.app, [LOCAL], retry={"attempts": 2, "backoff_seconds": 0.05})
    shared.gemini.enqueue("no_image", "no_image", "success")
    resp = post_photo(shared.url, jpeg_bytes(311, 200))
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Provider"] == "local"
    assert len(shared.gemini.generate_requests) == 2
    job = job_of(shared.url, resp.headers["X-Job-Id"])
    assert [a["outcome"] for a in job["attempt_log"]] == ["bad_response", "bad_response", "ok"]


def test_when_every_step_fails_the_last_steps_failure_is_the_answer(shared):
    chain_slot(shared.app, [{"provider": "gemini", "operation": "image_edit", "settings": PROMPT}])
    shared.gemini.enqueue("blocked_prompt", "quota")
    body = error_of(post_photo(shared.url, jpeg_bytes(312, 200)), 503, "quota")
    job = job_of(shared.url, body["job_id"])
    assert job["status"] == "failed"
    assert [(a["step"], a["outcome"]) for a in job["attempt_log"]] == [(0, "blocked"), (1, "quota")]


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [3, 100], ids=["circuit-opens", "retries-then-handover"])
def test_chaos_primary_failing_60_percent_and_a_healthy_second_gives_99_of_100_ai_images(shared, threshold):
    """Gemini fails 60 % of calls transiently; a studio's own ML service is the second step.

    With the default threshold the circuit soon sends most photos straight to the second
    step; with the circuit out of play every photo goes through Gemini's retries and the
    time-share handover.
    """
    rng = random.Random(21)
    shared.gemini.enqueue(
        *[
            rng.choice(["overloaded", "reset", "no_image"]) if rng.random() < 0.6 else "success"
            for _ in range(400)
        ]
    )
    with MockHttpService() as svc:
        second = {"provider": "http_service", "operation": "image_edit", "settings": {"url": svc.endpoint}}
        for n in range(1, 5):
            chain_slot(shared.app, [second], slot_id=f"slot-00{n}")
        deadline = 10
        set_settings(
            shared.app,
            sync_response_seconds=deadline,
            concurrency_per_slot=8,
            circuit_failure_threshold=threshold,
        )

        def one(i: int) -> tuple[int, str | None, float]:
            started = time.monotonic()
            resp = post_photo(shared.url, jpeg_bytes(200 + i, 150), slot_id=f"slot-00{i % 4 + 1}")
            return resp.status_code, resp.headers.get("X-Provider"), time.monotonic() - started

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, range(100)))
    good = [r for r in results if r[0] == 200 and r[1] in ("gemini", "http_service") and r[2] < deadline]
    assert len(good) >= 99, results
    assert {r[1] for r in good} == {"gemini", "http_service"}


# -- time shares, without HTTP -------------------------------------------------------------


def _steps(*shares: float | None) -> list[ChainStep]:
    return [ChainStep("gemini", "image_edit", {}, time_share=s) for s in shares]


def test_each_step_but_the_last_gets_its_share_of_the_time_left_and_the_last_gets_the_rest():
    given: list[tuple[int, float]] = []

    def run(index: int, step: ChainStep, step_deadline: float) -> ProviderResult:
        given.append((index, step_deadline - time.monotonic()))
        if index < 2:
            raise StepFailure("provider_unavailable", "open", 0)
        return ProviderResult(b"img", "image/png")

    deadline = time.monotonic() + 10.5
    _result, answered = call_chain(_steps(None, 0.5, None), deadline, run, "job")
    assert answered == 2
    left = 10.5 - STORE_MARGIN
    assert given[0][1] == pytest.approx(left * DEFAULT_TIME_SHARE, abs=0.05)
    assert given[1][1] == pytest.approx(left * 0.5, abs=0.05)  # a fast failure hands over everything
    assert given[2][1] == pytest.approx(left, abs=0.05)


def test_a_chain_whose_time_ran_out_before_its_last_step_answers_timeout():
    def slow(index: int, step: ChainStep, step_deadline: float) -> ProviderResult:
        time.sleep(max(0.0, step_deadline - time.monotonic()))
        raise StepFailure("timeout", "share used up", 1)

    with pytest.raises(StepFailure) as failure:
        call_chain(_steps(0.9, None), time.monotonic() + STORE_MARGIN + 0.25, slow, "job")
    assert failure.value.reason == "timeout"
