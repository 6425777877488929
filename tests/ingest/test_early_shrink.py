"""The photo is shrunk for the provider while it is still being uploaded, never at its expense."""

from __future__ import annotations

import time

import requests

from photochanger.infra.arriving import ArrivingBytes
from photochanger.infra.request import HashingUpload
from photochanger.ingest import early_shrink
from photochanger.ingest.early_shrink import EarlyShrink, prepare_job
from photochanger.media.images import downscale
from photochanger.providers.base import DriverConfig, ImageInput, ProviderJob
from photochanger.providers.gemini import GeminiDriver
from photochanger.providers.turbotext import TurbotextDriver
from tests.conftest import INGEST_PASSWORD
from tests.infra.test_metrics import sample
from tests.support.booth import BOOTH_FIELDS, post_photo
from tests.support.images import jpeg_bytes, noisy_jpeg, open_image
from tests.support.mock_gemini import inline_images
from tests.support.setup import configure_slot, gemini_slot

GEMINI = GeminiDriver(DriverConfig(max_input_side=2048, min_input_side=1024))
MB = 1024 * 1024


def arrived(data: bytes) -> ArrivingBytes:
    buf = ArrivingBytes()
    buf.feed(data)
    buf.complete()
    return buf


def wait_for_idle_threads(timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while early_shrink._running and time.monotonic() < end:
        time.sleep(0.01)
    assert early_shrink._running == 0, "a shrinking thread was left running"


# -- when it starts ---------------------------------------------------------------


def test_it_starts_only_for_drivers_that_shrink_and_uploads_worth_it():
    assert EarlyShrink.for_upload(None, {}, 5 * MB) is None
    assert EarlyShrink.for_upload(TurbotextDriver(), {}, 5 * MB) is None  # sends a URL, not bytes
    assert EarlyShrink.for_upload(GEMINI, {}, early_shrink.MIN_BYTES - 1) is None
    assert EarlyShrink.for_upload(GEMINI, {}, None) is None
    early = EarlyShrink.for_upload(GEMINI, {}, 5 * MB)
    assert early is not None and (early.max_side, early.min_side) == (2048, 1024)
    pro_2k = {"model": "gemini-3-pro-image-preview", "image_size": "2K"}
    early = EarlyShrink.for_upload(GEMINI, pro_2k, 5 * MB)
    assert early is not None and (early.max_side, early.min_side) == (2048, 2048)


def test_the_box_is_the_one_prepare_uses():
    photo = noisy_jpeg(3000, 2000)
    job = ProviderJob("j", "slot-001", "image_edit", {}, ImageInput(photo, "image/jpeg", "photo"))
    assert GEMINI.prepare(job).photo.data == downscale(photo, "image/jpeg", *GEMINI.photo_box({}))[0]


# -- what it hands over ------------------------------------------------------------


def test_a_big_photo_is_handed_over_shrunk_and_prepare_does_not_decode_it_again():
    photo = noisy_jpeg(2400, 1600)
    early = EarlyShrink(2048, 1024)
    early.attach(arrived(photo))
    job = ProviderJob("j", "slot-001", "image_edit", {}, ImageInput(photo, "image/jpeg", "photo"))
    prepared = prepare_job(GEMINI, job, early)
    assert prepared.photo.data == downscale(photo, "image/jpeg", 2048, 1024)[0]
    assert max(open_image(prepared.photo.data).size) == 1200
    assert early.outcome == "used"
    early.close()
    wait_for_idle_threads()


def test_templates_are_still_shrunk_by_prepare_beside_the_early_photo():
    photo, template = noisy_jpeg(2400, 1600), noisy_jpeg(3000, 2000)
    early = EarlyShrink(2048, 1024)
    early.attach(arrived(photo))
    job = ProviderJob(
        "j",
        "slot-001",
        "image_edit",
        {},
        ImageInput(photo, "image/jpeg", "photo"),
        templates=(ImageInput(template, "image/jpeg", "template"),),
    )
    prepared = prepare_job(GEMINI, job, early)
    assert max(open_image(prepared.photo.data).size) == 1200
    assert [max(open_image(t.data).size) for t in prepared.templates] == [1500]
    assert early.outcome == "used"


def test_a_photo_small_enough_goes_as_it_is():
    photo = jpeg_bytes(1600, 1200)
    early = EarlyShrink(2048, 1024)
    early.attach(arrived(photo))
    job = ProviderJob("j", "slot-001", "image_edit", {}, ImageInput(photo, "image/jpeg", "photo"))
    assert prepare_job(GEMINI, job, early).photo.data is photo
    assert early.outcome == "as_is"


def test_a_photo_within_the_box_is_judged_on_its_first_bytes_and_given_no_thread():
    photo = noisy_jpeg(1600, 1200)
    upload = HashingUpload()
    early = EarlyShrink(2048, 1024)
    early.attach(upload.arriving)
    upload.write(photo[: 64 * 1024])
    assert early.outcome == "as_is" and early.source is None
    assert early_shrink._running == 0
    upload.write(photo[64 * 1024 :])
    assert upload.arriving.on_feed is None and not early.serves(upload)
    job = ProviderJob("j", "slot-001", "image_edit", {}, ImageInput(photo, "image/jpeg", "photo"))
    assert prepare_job(GEMINI, job, None).photo.data is photo
    early.close()


def test_the_thread_starts_once_the_headers_have_told_the_size():
    photo = noisy_jpeg(2400, 1600)
    buf = ArrivingBytes()
    early = EarlyShrink(2048, 1024)
    early.attach(buf)
    buf.feed(photo[:100])  # the headers are not all here yet
    assert early_shrink._running == 0 and early.outcome == "unused" and early.source is buf
    buf.feed(photo[100:])
    buf.complete()
    assert early.take() == downscale(photo, "image/jpeg", 2048, 1024)
    assert early.outcome == "used"
    early.close()
    wait_for_idle_threads()


def test_a_part_that_ends_before_its_size_shows_is_judged_whole_when_taken():
    photo = jpeg_bytes(2400, 1600)
    buf = ArrivingBytes()
    early = EarlyShrink(2048, 1024)
    early.attach(buf)
    buf.feed(photo[:100])
    buf.complete()
    assert early.take() is None  # 100 bytes of a JPEG: the decoder fails, prepare() decides
    assert early.outcome == "failed"
    assert early_shrink._running == 0


def test_a_decoder_error_leaves_the_work_to_prepare_and_is_logged(caplog):
    broken = b"\xff\xd8\xff" + b"not a jpeg" * 1000
    early = EarlyShrink(2048, 1024)
    early.attach(arrived(broken))
    assert early.take() is None
    assert early.outcome == "failed"
    with caplog.at_level("WARNING", logger="photochanger.ingest"):
        early.close()
    assert [r.event for r in caplog.records] == ["ingest.early_shrink_failed"]
    wait_for_idle_threads()


def test_only_the_first_file_part_is_followed_and_serves_tells_which():
    early = EarlyShrink(2048, 1024)
    first, second = HashingUpload(), HashingUpload()
    early.attach(first.arriving)
    early.attach(second.arriving)
    assert early.serves(first) and not early.serves(second)
    early.close()
    wait_for_idle_threads()


def test_with_every_thread_taken_the_photo_is_shrunk_after_arrival(monkeypatch):
    monkeypatch.setattr(early_shrink, "MAX_THREADS", 0)
    photo = noisy_jpeg(2400, 1600)
    early = EarlyShrink(2048, 1024)
    early.attach(arrived(photo))
    assert early.outcome == "busy" and early.source is None
    job = ProviderJob("j", "slot-001", "image_edit", {}, ImageInput(photo, "image/jpeg", "photo"))
    assert max(open_image(prepare_job(GEMINI, job, early).photo.data).size) == 1200


def test_closing_a_request_stops_a_decode_still_waiting_for_bytes():
    photo = noisy_jpeg(2400, 1600)
    buf = ArrivingBytes()
    early = EarlyShrink(2048, 1024)
    early.attach(buf)
    buf.feed(photo[: len(photo) // 3])  # the booth hung up, or the password was wrong
    time.sleep(0.05)
    assert early_shrink._running == 1
    early.close()
    wait_for_idle_threads()
    assert early.outcome == "unused"


# -- through the real server (gunicorn + gevent) -----------------------------------


def metric(url: str, outcome: str) -> float:
    return sample(
        requests.get(f"{url}/metrics", timeout=10).text, "photochanger_early_shrink_total", outcome=outcome
    )


def test_an_ingest_sends_the_photo_it_shrank_during_the_upload(shared):
    gemini_slot(shared.app)
    photo = noisy_jpeg(2400, 1600)
    before = metric(shared.url, "used")
    resp = post_photo(shared.url, photo)
    assert resp.status_code == 200, resp.text
    (_mime, sent), *_ = inline_images(shared.gemini.generate_requests[-1])
    assert sent == downscale(photo, "image/jpeg", 2048, 1024)[0]
    assert metric(shared.url, "used") == before + 1
    stored = requests.get(resp.headers["X-Result-Url"], timeout=10)
    assert stored.status_code == 200


def test_a_rejected_upload_is_not_shrunk_to_the_end(shared):
    gemini_slot(shared.app)
    before = metric(shared.url, "unused")
    resp = post_photo(shared.url, noisy_jpeg(2400, 1600), password="wrong")
    assert resp.status_code == 401
    assert metric(shared.url, "unused") == before + 1
    assert shared.gemini.generate_requests == []


def test_the_photo_sent_is_the_chosen_file_part_even_when_another_came_first(shared):
    gemini_slot(shared.app)
    decoy, photo = noisy_jpeg(3000, 2000), noisy_jpeg(2400, 1600)
    resp = requests.post(
        f"{shared.url}/ingest/slot-001",
        data={**BOOTH_FIELDS, "password": INGEST_PASSWORD},
        files=[
            ("attachment", ("other.jpg", decoy, "image/jpeg")),
            ("fileToUpload", ("IMG.JPG", photo, "image/jpeg")),
        ],
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    (_mime, sent), *_ = inline_images(shared.gemini.generate_requests[-1])
    assert max(open_image(sent).size) == 1200  # the decoy would have given 1500
    assert sent == downscale(photo, "image/jpeg", 2048, 1024)[0]


def test_a_photo_cut_short_is_refused_and_its_early_decode_stopped(shared):
    gemini_slot(shared.app)
    photo = noisy_jpeg(2400, 1600)
    before = metric(shared.url, "unused")
    resp = post_photo(shared.url, photo[: len(photo) * 2 // 3])
    assert resp.status_code == 415, resp.text
    assert metric(shared.url, "unused") == before + 1
    assert shared.gemini.generate_requests == []


def test_a_text_to_image_slot_does_not_shrink_the_photo_it_never_sends(shared):
    configure_slot(shared.app, provider="gemini", operation="text_to_image", settings_json={"prompt": "Кот"})
    before = {outcome: metric(shared.url, outcome) for outcome in ("used", "unused", "failed")}
    resp = post_photo(shared.url, noisy_jpeg(2400, 1600))
    assert resp.status_code == 200, resp.text
    assert inline_images(shared.gemini.generate_requests[-1]) == []
    assert {outcome: metric(shared.url, outcome) for outcome in before} == before
