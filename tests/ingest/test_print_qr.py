"""The QR code on the print, over real HTTP to gunicorn with two workers.

The booth's answer carries a code a decoder reads; its link opens that
result's phone page; the public link serves the very bytes the booth printed.
"""

from __future__ import annotations

import io

import requests
import zxingcpp
from PIL import Image

from photochanger.media import qr
from tests.support.booth import post_photo
from tests.support.images import noisy_jpeg
from tests.support.setup import configure_slot

#: 10×15 cm at 300 dpi, as a booth prints it
PRINT = (1181, 1772)


def _qr_slot(app, quality: int = 60, **options) -> None:
    qr_settings = {**qr.DEFAULTS, "enabled": True, **options}
    configure_slot(
        app,
        provider="local",
        operation="filter",
        settings_json={"filter": "warm", "quality": quality, "output_format": "auto", "qr": qr_settings},
    )


def test_the_printed_code_opens_the_phone_page_of_that_result(shared):
    _qr_slot(shared.app, corner="top_left")
    resp = post_photo(shared.url, noisy_jpeg(*PRINT))
    assert resp.status_code == 200, resp.text
    job_id = resp.headers["X-Job-Id"]
    printed = Image.open(io.BytesIO(resp.content))
    assert printed.format == "JPEG" and printed.size == PRINT
    (code,) = zxingcpp.read_barcodes(printed)
    assert code.text == f"{shared.url}/public/results/{job_id}/view"
    box = code.position  # the code is where the slot put it: the top-left quarter
    assert max(box.top_left.x, box.bottom_left.x) < PRINT[0] / 4 and box.top_left.y < PRINT[1] / 4

    page = requests.get(code.text, timeout=10)
    assert page.status_code == 200
    assert f'/public/results/{job_id}"' in page.text  # the picture and the download button
    assert qr.svg(code.text) in page.text  # the same code, for sharing from the phone

    stored = requests.get(resp.headers["X-Result-Url"], timeout=10)
    assert stored.content == resp.content  # the link serves what the booth printed


def test_the_covered_share_stays_under_eight_percent(shared):
    _qr_slot(shared.app, size_percent=25, margin_percent=0, corner="bottom_right")
    resp = post_photo(shared.url, noisy_jpeg(1024, 1024))
    assert resp.status_code == 200, resp.text
    printed = Image.open(io.BytesIO(resp.content)).convert("L")
    assert len(zxingcpp.read_barcodes(printed)) == 1
    # The white plate: from the corner, rows and columns stay near-white up to its edge.
    width, height = printed.size
    plate_w = next(x for x in range(width - 1, -1, -1) if printed.getpixel((x, height - 2)) < 200)
    plate_h = next(y for y in range(height - 1, -1, -1) if printed.getpixel((width - 2, y)) < 200)
    covered = (width - 1 - plate_w) * (height - 1 - plate_h)
    assert 0 < covered <= 0.08 * width * height


def test_without_the_option_the_print_carries_no_code(shared):
    resp = post_photo(shared.url, noisy_jpeg(*PRINT))
    assert resp.status_code == 200, resp.text
    assert zxingcpp.read_barcodes(Image.open(io.BytesIO(resp.content))) == []
    assert requests.get(resp.headers["X-Result-Url"], timeout=10).content == resp.content
