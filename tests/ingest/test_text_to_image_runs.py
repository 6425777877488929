"""Text-to-image test runs over real HTTP to gunicorn (two workers) and the Gemini mock.

An admin tests a text-to-image slot with a prompt and no photo: the job has no
input, the provider gets the prompt alone, and the result is a normal result.
"""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from photochanger.extensions import db
from photochanger.models import JobHistory, MediaKind, MediaObject
from tests.support.app import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.support.images import jpeg_bytes
from tests.support.mock_gemini import inline_images, part_kinds
from tests.support.setup import configure_slot

pytestmark = pytest.mark.db


@pytest.fixture
def admin(shared) -> dict[str, str]:
    resp = requests.post(
        f"{shared.url}/api/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}, timeout=10
    )
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def _t2i_slot(app) -> None:
    settings = {"prompt": "Открытка с котом", "aspect_ratio": "2:3"}
    configure_slot(app, "slot-004", provider="gemini", operation="text_to_image", settings_json=settings)


def test_a_prompt_alone_makes_the_picture_and_no_input_is_stored(shared, admin):
    _t2i_slot(shared.app)
    resp = requests.post(
        f"{shared.url}/api/slots/slot-004/test-run",
        json={"prompt": "Кот в космосе"},
        headers=admin,
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    width, height = Image.open(io.BytesIO(resp.content)).size
    assert width * 3 == height * 2  # the slot's 2:3
    request = shared.gemini.generate_requests[-1]
    assert part_kinds(request) == ["text"]
    assert request.json["contents"][0]["parts"][0]["text"] == "Кот в космосе"
    job_id = resp.headers["X-Job-Id"]
    with shared.app.app_context():
        job = db.session.get(JobHistory, job_id)
        assert (job.status, job.source, job.operation) == ("done", "ui_test", "text_to_image")
        assert job.input_sha256 is None and job.input_size is None
        assert job.metadata_json["prompt"] == "Кот в космосе"
        kinds = {m.kind for m in db.session.query(MediaObject).filter_by(job_id=job_id)}
        assert kinds == {MediaKind.RESULT}
    assert requests.get(resp.headers["X-Result-Url"], timeout=10).content == resp.content


def test_without_a_prompt_the_slots_own_is_used_and_each_run_is_new(shared, admin):
    _t2i_slot(shared.app)
    url = f"{shared.url}/api/slots/slot-004/test-run"
    first = requests.post(url, headers=admin, timeout=60)
    second = requests.post(url, headers=admin, timeout=60)
    assert first.status_code == second.status_code == 200, first.text
    assert first.headers["X-Job-Id"] != second.headers["X-Job-Id"]  # no replay of the earlier picture
    texts = [r.json["contents"][0]["parts"][0]["text"] for r in shared.gemini.generate_requests[-2:]]
    assert texts == ["Открытка с котом", "Открытка с котом"]


def test_a_photo_sent_to_a_text_to_image_slot_is_never_sent_on(shared, admin):
    _t2i_slot(shared.app)
    resp = requests.post(
        f"{shared.url}/api/slots/slot-004/test-run",
        files={"test_image": ("t.jpg", jpeg_bytes(), "image/jpeg")},
        headers=admin,
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    assert inline_images(shared.gemini.generate_requests[-1]) == []


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"prompt": "   "}, 400, "prompt"),
        ({"prompt": "x" * 4001}, 400, "prompt"),
        ({"prompt": 5}, 400, "prompt"),
        ({"prompt": None}, 400, "prompt"),  # the contract's prompt is a string, not nullable
    ],
)
def test_a_bad_prompt_is_a_400_naming_it(shared, admin, body, status, field):
    _t2i_slot(shared.app)
    resp = requests.post(f"{shared.url}/api/slots/slot-004/test-run", json=body, headers=admin, timeout=30)
    assert resp.status_code == status
    assert resp.json()["field"] == field and "Поле «prompt»" in resp.json()["message"]


def test_a_photo_slot_still_needs_its_photo_and_takes_no_prompt(shared, admin):
    url = f"{shared.url}/api/slots/slot-001/test-run"
    missing = requests.post(url, headers=admin, timeout=30)
    assert missing.status_code == 400 and missing.json()["field"] == "test_image"
    # Well formed (the same request runs once the slot is text-to-image): a conflict with the slot, not a 400.
    prompt = requests.post(url, json={"prompt": "кот"}, headers=admin, timeout=30)
    assert prompt.status_code == 409 and prompt.json()["field"] == "prompt"
    assert prompt.json()["failure_reason"] == "conflict"
