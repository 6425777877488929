"""The benchmark's provider mock: a Gemini answer at once, or at a provider link's pace."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests

from bench.servers import Stack

GENERATE = "/v1beta/models/gemini-2.5-flash-image:generateContent"


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    """The mock as the benchmark starts it."""
    stack = Stack("sqlite", workers=1)
    try:
        yield stack.mock_provider()
    finally:
        stack.stop()


def _generate(url: str) -> tuple[bytes, float]:
    started = time.perf_counter()
    resp = requests.post(url + GENERATE, data=b"{}", headers={"x-goog-api-key": "k"}, timeout=30)
    assert resp.status_code == 200
    return resp.content, time.perf_counter() - started


def test_a_paced_answer_is_the_same_answer_carried_at_the_links_pace(mock_url):
    at_once, _ = _generate(mock_url)
    requests.post(f"{mock_url}/_bench/delay?seconds=0&mbit=40", timeout=5)
    try:
        paced, took = _generate(mock_url)
    finally:
        requests.post(f"{mock_url}/_bench/delay?mbit=0", timeout=5)
    assert paced == at_once
    part = json.loads(paced)["candidates"][0]["content"]["parts"][0]["inlineData"]
    assert part["mimeType"] == "image/png"
    # The last 64 KB block leaves once the link has carried everything before it.
    assert took >= (len(paced) - 64 * 1024) * 8 / 40e6


def test_the_pace_is_off_again_once_reset(mock_url):
    requests.post(f"{mock_url}/_bench/delay?seconds=0&mbit=1", timeout=5)
    requests.post(f"{mock_url}/_bench/delay?mbit=0", timeout=5)
    body, took = _generate(mock_url)
    assert took < len(body) * 8 / 1e6 / 4  # far sooner than 1 Mbit/s would carry it
