"""Full ingests through the Gemini and Turbotext drivers against their wire-true mocks."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import requests

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.models import JobHistory, MediaKind, MediaObject
from tests.support.booth import post_photo
from tests.support.images import jpeg_bytes, open_image, png_bytes
from tests.support.live_server import LiveServer
from tests.support.mock_gemini import inline_images, part_kinds
from tests.support.mock_turbotext import MockTurbotext
from tests.support.mockserver import step
from tests.support.setup import configure_slot, gemini_slot, set_settings
from tests.support.templates import add_template

TT_KEY = "tt-test-key"


@pytest.fixture
def app(shared):
    return shared.app


@pytest.fixture(scope="module")
def turbotext_mock():
    with MockTurbotext(api_key=TT_KEY) as mock:
        yield mock


@pytest.fixture(scope="module")
def turbotext_server(stack, turbotext_mock):
    """One gunicorn on the module's database that talks to the Turbotext mock."""
    server = LiveServer(
        {
            **stack.env,
            "TURBOTEXT_API_BASE": turbotext_mock.url,
            "TURBOTEXT_API_KEY": TT_KEY,
            "TURBOTEXT_POLL_INTERVAL": "0.1",
        }
    )
    yield server
    server.stop()


@pytest.fixture
def turbotext(turbotext_mock):
    turbotext_mock.reset()
    return turbotext_mock


@pytest.fixture
def tt_server(shared, turbotext, turbotext_server):
    return turbotext_server


def start_tt_server(shared, turbotext, **env: str):
    """A gunicorn of its own, for a test that needs settings the module's server lacks."""
    return shared.start_server(
        TURBOTEXT_API_BASE=turbotext.url, TURBOTEXT_API_KEY=TT_KEY, TURBOTEXT_POLL_INTERVAL="0.1", **env
    )


def turbotext_slot(app, operation: str, **settings) -> None:
    configure_slot(app, provider="turbotext", operation=operation, settings_json=settings)


# -- Gemini ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        step("success", text_before="Вот ваше фото", text_after="Готово"),
        step("success", snake_case=True),
        step("success", thoughts=2, color=(0, 0, 255)),
    ],
    ids=["text-around-image", "snake-case", "thought-drafts"],
)
def test_gemini_answer_shapes_give_the_final_image(app, shared, answer):
    gemini_slot(app)
    shared.gemini.enqueue(answer)
    resp = post_photo(shared.url, jpeg_bytes())
    assert resp.status_code == 200, resp.text
    image = open_image(resp.content).convert("RGB")
    if answer.options.get("thoughts"):
        assert image.getpixel((1, 1)) == (0, 0, 255), "the draft (red) image must be skipped"


def test_gemini_gets_the_photo_first_then_both_templates_in_order(app, shared):
    gemini_slot(app, prompt="Перенеси стиль изображения №2 и фон изображения №3")
    first, second = png_bytes(100, 80), png_bytes(60, 40, alpha=True)
    add_template(app, "slot-001", first, "style")
    add_template(app, "slot-001", second, "background")
    photo = jpeg_bytes(640, 480)
    assert post_photo(shared.url, photo).status_code == 200
    sent = shared.gemini.generate_requests[-1]
    assert part_kinds(sent)[0] == "text"
    images = inline_images(sent)
    assert len(images) == 3
    assert images[0] == ("image/jpeg", photo)
    assert [open_image(data).size for _, data in images[1:]] == [(100, 80), (60, 40)]
    assert sent.headers["x-goog-api-key"] == shared.env["GEMINI_API_KEY"]


@pytest.mark.parametrize(
    ("settings", "sent_side"),
    [
        # A 1K result: half scale straight from libjpeg (1500 px) is plenty.
        ({}, 1500),
        # 3-pro asked for 2K gets the full PROVIDER_MAX_INPUT_SIDE.
        ({"model": "gemini-3-pro-image-preview", "image_size": "2K"}, 2048),
    ],
)
def test_gemini_photo_larger_than_needed_is_downscaled_but_the_answer_is_stored_as_given(
    app, shared, settings, sent_side
):
    gemini_slot(app, **settings)
    resp = post_photo(shared.url, jpeg_bytes(3000, 2000))
    assert resp.status_code == 200
    (_mime, sent_photo), *_ = inline_images(shared.gemini.generate_requests[-1])
    assert max(open_image(sent_photo).size) == sent_side
    assert resp.content == requests.get(resp.headers["X-Result-Url"], timeout=5).content


# -- Turbotext ---------------------------------------------------------------------


def test_turbotext_style_transfer_after_reconnects(app, tt_server, turbotext):
    turbotext_slot(app, "style_transfer", prompt="акварель")
    add_template(app, "slot-001", png_bytes(), "style")
    turbotext.enqueue(step("success", reconnects=3))
    resp = post_photo(tt_server.url, jpeg_bytes())
    assert resp.status_code == 200, resp.text
    job = turbotext.jobs[-1]
    assert job.method == "mix_images"
    assert job.polls == 4
    assert "/public/provider-media/" in job.form["url_image_target"]  # the guest photo
    assert "/public/provider-media/" in job.form["url"]  # the style template
    assert job.form["url"] != job.form["url_image_target"]
    assert turbotext.fetches and all(f.ok for f in turbotext.fetches)
    # The links die with the job.
    for link in (job.form["url"], job.form["url_image_target"]):
        assert requests.get(link, timeout=5).status_code == 410


def test_turbotext_identity_transfer_roles(app, tt_server, turbotext):
    turbotext_slot(app, "identity_transfer", face_restore=True)
    template = png_bytes(90, 90)
    add_template(app, "slot-001", template, "base")
    photo = jpeg_bytes(320, 240)
    assert post_photo(tt_server.url, photo).status_code == 200
    job = turbotext.jobs[-1]
    assert job.method == "deepfake_photo"
    assert {f.field for f in turbotext.fetches} == {"url", "url_image_target"}
    assert all(f.ok for f in turbotext.fetches)
    with app.app_context():
        links = {m.id: m for m in db.session.query(MediaObject).filter_by(kind=MediaKind.PROVIDER_MEDIA)}
    base_id = job.form["url"].rsplit("/", 1)[1]
    guest_id = job.form["url_image_target"].rsplit("/", 1)[1]
    assert links[base_id].mime == "image/png"  # the template's face is replaced
    assert links[guest_id].mime == "image/jpeg"  # by the guest's face


def test_turbotext_failure_is_502_bad_response(app, tt_server, turbotext):
    turbotext_slot(app, "image_edit", prompt="сделай мультяшным")
    turbotext.enqueue(step("failure", error="Ошибка генерации", reconnects=1))
    body = post_photo(tt_server.url, jpeg_bytes()).json()
    assert body["failure_reason"] == "bad_response"


def test_turbotext_forbidden_content_is_502_blocked(app, tt_server, turbotext):
    turbotext_slot(app, "image_edit", prompt="сделай мультяшным")
    turbotext.enqueue("forbidden")
    resp = post_photo(tt_server.url, jpeg_bytes())
    assert resp.status_code == 502
    assert resp.json()["failure_reason"] == "blocked"


def test_turbotext_result_on_another_host_is_never_fetched(app, tt_server, turbotext):
    turbotext_slot(app, "image_edit", prompt="сделай мультяшным")
    # The mock itself under another name: a host the API base does not name.
    other = turbotext.url.replace("127.0.0.1", "localhost")
    turbotext.enqueue(step("success", result="data", result_base=other))
    resp = post_photo(tt_server.url, jpeg_bytes())
    assert resp.status_code == 502
    assert resp.json()["failure_reason"] == "bad_response"
    assert turbotext.downloads == []


def test_turbotext_result_host_can_be_allowed(app, shared, turbotext):
    server = start_tt_server(shared, turbotext, TURBOTEXT_RESULT_HOSTS="127.0.0.1, localhost")
    turbotext_slot(app, "image_edit", prompt="сделай мультяшным")
    turbotext.enqueue(
        step("success", result="data", result_base=turbotext.url.replace("127.0.0.1", "localhost"))
    )
    resp = post_photo(server.url, jpeg_bytes())
    assert resp.status_code == 200, resp.text
    assert len(turbotext.downloads) == 1


def test_turbotext_answer_over_the_cap_is_502_bad_response(app, shared, turbotext):
    server = start_tt_server(shared, turbotext, PROVIDER_MAX_ANSWER_MB="1")
    turbotext_slot(app, "image_edit", prompt="сделай мультяшным")
    turbotext.enqueue(step("success", pad=3 * 1024 * 1024))
    resp = post_photo(server.url, jpeg_bytes())
    assert resp.status_code == 502
    assert resp.json()["failure_reason"] == "bad_response"
    with app.app_context():
        row = db.session.execute(
            db.select(JobHistory.error_detail).order_by(JobHistory.started_at.desc()).limit(1)
        ).scalar_one()
    assert "larger than 1048576 bytes" in row


@pytest.mark.slow
def test_turbotext_that_never_finishes_is_504_and_its_links_expire(app, tt_server, turbotext):
    turbotext_slot(app, "image_edit", prompt="сделай мультяшным")
    set_settings(app, sync_response_seconds=10)
    turbotext.enqueue(step("hang", seconds=30))
    started = time.monotonic()
    resp = post_photo(tt_server.url, jpeg_bytes())
    assert resp.status_code == 504
    assert time.monotonic() - started < 11
    link = turbotext.jobs[-1].form["url"]
    assert requests.get(link, timeout=5).status_code == 410


def test_provider_media_link_answers_410_once_its_deadline_passed(app, shared):
    # A link whose job is still marked running but whose deadline has passed.
    with app.app_context():
        db.session.add(
            MediaObject(
                id="e" * 32,
                kind=MediaKind.PROVIDER_MEDIA,
                path="provider-media/" + "e" * 32 + ".jpg",
                mime="image/jpeg",
                size_bytes=1,
                expires_at=utcnow() - dt.timedelta(seconds=1),
            )
        )
        db.session.commit()
    assert requests.get(f"{shared.url}/public/provider-media/{'e' * 32}", timeout=5).status_code == 410
    assert requests.get(f"{shared.url}/public/provider-media/{'d' * 32}", timeout=5).status_code == 404
