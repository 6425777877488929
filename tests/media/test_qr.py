"""The QR code stamped on a print: it decodes, stays printable and small, and keeps the JPEG's quality."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from photochanger.ingest.finishing import finish
from photochanger.media import qr
from photochanger.providers.base import ProviderResult
from tests.support.images import jpeg_bytes, noisy_jpeg, png_bytes, webp_bytes

URL = "https://photo.example.ru/public/results/0123456789abcdef0123456789abcdef/view"
#: 10×15 cm at 300 dpi
PRINT = (1181, 1772)


def decoded(data: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))]


def placement(width: int, height: int, options: qr.QrOptions) -> qr.Placement:
    found = qr.place(width, height, len(qr.symbol(URL).matrix), options)
    assert found is not None
    return found


@pytest.mark.parametrize("corner", qr.CORNERS)
@pytest.mark.parametrize("quality", [50, 75, 92])
def test_the_code_decodes_from_a_print_sized_jpeg_at_the_slots_quality(corner: str, quality: int) -> None:
    data = noisy_jpeg(*PRINT, quality=quality)
    out = qr.stamp(data, "image/jpeg", URL, qr.QrOptions(corner=corner))
    assert decoded(out) == [URL]
    before, after = Image.open(io.BytesIO(data)), Image.open(io.BytesIO(out))
    assert after.size == before.size
    assert after.quantization == before.quantization  # type: ignore[attr-defined]


@pytest.mark.parametrize("corner", qr.CORNERS)
def test_the_code_sits_in_its_corner_with_its_margin(corner: str) -> None:
    width, height = PRINT
    options = qr.QrOptions(corner=corner, margin_percent=3)
    box = placement(width, height, options)
    margin = width * 3 // 100
    assert box.x == (margin if corner.endswith("left") else width - box.width - margin)
    assert box.y == (margin if corner.startswith("top") else height - box.height - margin)
    out = Image.open(io.BytesIO(qr.stamp(noisy_jpeg(width, height), "image/jpeg", URL, options)))
    crop = out.crop((box.x, box.y, box.x + box.width, box.y + box.height))
    assert zxingcpp.read_barcodes(crop)[0].text == URL  # the code is inside the box it reports


@pytest.mark.parametrize(
    "size", [PRINT, PRINT[::-1], (1024, 1024), (2048, 1536), (4000, 6000), (600, 400), (300, 300)]
)
@pytest.mark.parametrize("size_percent", [10, 16, 25])
def test_the_code_never_covers_more_than_eight_percent(size: tuple[int, int], size_percent: int) -> None:
    width, height = size
    box = placement(width, height, qr.QrOptions(size_percent=size_percent))
    assert box.area <= qr.MAX_AREA_SHARE * width * height
    assert box.x >= 0 and box.y >= 0 and box.x + box.width <= width and box.y + box.height <= height


@pytest.mark.parametrize("size", [PRINT, PRINT[::-1], (1024, 1536), (2048, 1536)])
def test_modules_print_at_least_0_4_mm_on_a_10x15_print(size: tuple[int, int]) -> None:
    box = placement(*size, qr.QrOptions(size_percent=10))
    mm_per_pixel = qr.PRINT_SHORT_MM / min(size)
    assert box.module * mm_per_pixel >= qr.MIN_MODULE_MM


def test_a_bigger_size_gives_a_bigger_code() -> None:
    small = placement(*PRINT, qr.QrOptions(size_percent=10))
    big = placement(*PRINT, qr.QrOptions(size_percent=25))
    assert big.width > small.width
    assert big.width <= PRINT[0] * 25 // 100


def test_the_caption_is_drawn_under_the_code_and_can_be_left_out() -> None:
    with_caption = placement(*PRINT, qr.QrOptions())
    without = placement(*PRINT, qr.QrOptions(caption=""))
    assert with_caption.caption and not without.caption
    assert with_caption.height > without.height == without.width
    plate = qr.plate(qr.symbol(URL), with_caption, "Скачай фото")
    band = plate.crop((0, with_caption.width, plate.width, plate.height)).convert("L")
    assert band.getextrema()[0] < 100  # dark glyphs in the caption band
    assert qr._font_path() is not None, "fonts-dejavu-core is needed for the Cyrillic caption"


def test_an_image_too_small_for_the_cap_is_left_unchanged() -> None:
    data = jpeg_bytes(60, 40)
    assert qr.stamp(data, "image/jpeg", URL, qr.QrOptions()) == data


@pytest.mark.parametrize(
    ("make", "mime", "fmt"), [(png_bytes, "image/png", "PNG"), (webp_bytes, "image/webp", "WEBP")]
)
def test_png_and_webp_keep_their_format(make, mime: str, fmt: str) -> None:
    out = qr.stamp(make(1000, 1400), mime, URL, qr.QrOptions())
    assert Image.open(io.BytesIO(out)).format == fmt
    assert decoded(out) == [URL]


def test_an_exif_rotated_photo_gets_the_code_in_the_corner_a_viewer_sees() -> None:
    im = Image.open(io.BytesIO(noisy_jpeg(1772, 1181)))
    exif = im.getexif()
    exif[0x0112] = 6  # shown rotated 90° clockwise: a portrait print
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    out = Image.open(io.BytesIO(qr.stamp(buf.getvalue(), "image/jpeg", URL, qr.QrOptions())))
    assert out.size == (1181, 1772)  # stored upright
    assert out.getexif().get(0x0112, 1) == 1
    box = placement(1181, 1772, qr.QrOptions())
    assert zxingcpp.read_barcodes(out.crop((box.x, box.y, box.x + box.width, box.y + box.height)))


def test_finish_leaves_the_bytes_alone_when_the_option_is_off() -> None:
    data = noisy_jpeg(800, 600)
    result = ProviderResult(data, "image/jpeg")
    assert finish(result, {}, URL) == (data, "image/jpeg")
    assert finish(result, {"qr": {**qr.DEFAULTS, "enabled": False}}, URL) == (data, "image/jpeg")
    stamped, mime = finish(result, {"qr": {**qr.DEFAULTS, "enabled": True}}, URL)
    assert mime == "image/jpeg" and stamped != data and decoded(stamped) == [URL]


def test_the_page_svg_carries_the_same_link() -> None:
    markup = qr.svg(URL)
    assert markup.startswith("<svg") and "<script" not in markup and "href" not in markup
