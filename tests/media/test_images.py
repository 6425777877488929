"""Provider-input downscaling: as few decoded pixels and resampling passes as possible."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile

from photochanger.media import images
from tests.support.images import jpeg_bytes, noisy_jpeg, png_bytes, webp_bytes

JPEG_SCALES = (1, 2, 4, 8)


@pytest.fixture
def decode_spy(monkeypatch):
    """Records the draft box libjpeg is asked for and every resampling pass."""
    seen: dict[str, list[tuple[int, int]]] = {"draft": [], "resample": []}
    real_draft, real_thumbnail = JpegImageFile.draft, Image.Image.thumbnail

    def draft(self, mode, size):
        seen["draft"].append(size)
        return real_draft(self, mode, size)

    def thumbnail(self, size, *args, **kwargs):
        seen["resample"].append(self.size)
        return real_thumbnail(self, size, *args, **kwargs)

    monkeypatch.setattr(JpegImageFile, "draft", draft)
    monkeypatch.setattr(Image.Image, "thumbnail", thumbnail)
    return seen


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size


@pytest.mark.parametrize(
    ("long_side", "max_side", "min_side", "plan"),
    [
        (2459, 2048, 1024, (2, False)),  # 1230 px straight from libjpeg
        (4416, 2048, 1024, (4, False)),  # 13 MP camera photo -> 1104 px
        (6000, 2048, 1024, (4, False)),  # 24 MP -> 1500 px
        (2459, 2048, 2048, (1, True)),  # a 2K result needs the full 2048 px
        (6000, 2048, 2048, (2, True)),  # decode at 3000 px, resample to 2048
        (20000, 2048, 1024, (8, True)),  # libjpeg stops at 1/8: resample the rest
    ],
)
def test_reduction_plan_prefers_a_scale_that_needs_no_resampling(long_side, max_side, min_side, plan):
    assert images.reduction_plan(long_side, max_side, min_side, JPEG_SCALES) == plan


def test_photo_within_the_limit_is_returned_untouched():
    photo = jpeg_bytes(1600, 1200)
    out, mime = images.downscale(photo, "image/jpeg", 2048, 1024)
    assert out is photo and mime == "image/jpeg"


def test_jpeg_within_the_band_is_decoded_at_reduced_scale_without_resampling(decode_spy):
    out, mime = images.downscale(jpeg_bytes(2459, 1639), "image/jpeg", 2048, 1024)
    assert mime == "image/jpeg"
    assert _size(out) == (1230, 820)
    assert decode_spy["draft"][0] == (1229, 819)
    assert decode_spy["resample"] == []


def test_exact_limit_decodes_at_the_largest_useful_scale_then_resamples(decode_spy):
    out, _ = images.downscale(jpeg_bytes(4000, 2600), "image/jpeg", 1024)
    assert _size(out) == (1024, 666)
    # Half scale still covers 1024 px; a square (1024, 1024) request would
    # have kept libjpeg at full scale for this landscape photo.
    assert decode_spy["draft"][0] == (2000, 1300)  # (thumbnail's own draft call is a no-op)
    assert decode_spy["resample"] == [(2000, 1300)]


def test_png_template_is_reduced_by_a_whole_factor_and_keeps_its_alpha(decode_spy):
    out, mime = images.downscale(png_bytes(3000, 2000, alpha=True), "image/png", 2048, 1024)
    assert mime == "image/png"
    with Image.open(io.BytesIO(out)) as im:
        assert im.format == "PNG" and im.mode == "RGBA" and im.size == (1500, 1000)
        assert im.getpixel((10, 10))[3] == 255 and im.getpixel((10, 900))[3] == 0
    assert decode_spy["resample"] == []


def test_exif_rotation_is_applied_before_sending():
    im = Image.new("RGB", (3000, 2000), (200, 30, 30))
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    out, _ = images.downscale(buf.getvalue(), "image/jpeg", 2048, 1024)
    assert _size(out) == (1000, 1500)  # portrait, as the guest saw it


def test_unreadable_bytes_raise_oserror_for_the_driver_to_report():
    with pytest.raises(OSError):
        images.downscale(b"\xff\xd8\xff" + b"garbage" * 100, "image/jpeg", 2048, 1024)


# -- verify_image: structure and completeness --------------------------------------


def _with_exif_thumbnail(width: int, height: int) -> bytes:
    """A camera-like JPEG: an EXIF block with its own small JPEG (and its own EOI) up front."""
    im = Image.open(io.BytesIO(noisy_jpeg(width, height)))
    thumb = io.BytesIO()
    im.resize((160, 120)).save(thumb, "JPEG")
    exif = Image.Exif()
    exif[0x0110] = "booth camera"
    exif[0x0201] = 0  # JPEGInterchangeFormat: Pillow writes the thumbnail bytes alongside
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif.tobytes() + thumb.getvalue())
    return out.getvalue()


@pytest.mark.parametrize(
    "make, mime",
    [
        (lambda: noisy_jpeg(800, 600), "image/jpeg"),
        (lambda: png_bytes(300, 200), "image/png"),
        (lambda: webp_bytes(300, 200), "image/webp"),
        (lambda: _with_exif_thumbnail(800, 600), "image/jpeg"),
    ],
    ids=["jpeg", "png", "webp", "jpeg-with-exif-thumbnail"],
)
def test_a_whole_image_passes_and_the_same_image_cut_short_does_not(make, mime):
    data = make()
    assert images.verify_image(data) == mime
    assert images.verify_image(data[: len(data) * 3 // 4]) is None
    assert images.verify_image(data[:-3]) is None


def test_bytes_after_a_jpeg_end_are_tolerated():
    data = noisy_jpeg(400, 300)
    assert images.verify_image(data + b"\x00" * 5000) == "image/jpeg"


def test_a_jpeg_with_a_second_frame_mpo_is_a_jpeg_and_shrinks_like_one():
    big = Image.open(io.BytesIO(noisy_jpeg(2400, 1600)))
    out = io.BytesIO()
    big.save(out, "MPO", save_all=True, append_images=[big.resize((640, 427))])
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).format == "MPO"  # what Pillow calls many camera JPEGs
    assert images.verify_image(data) == "image/jpeg"
    shrunk, mime = images.downscale(data, "image/jpeg", 2048, 1024)
    assert (Image.open(io.BytesIO(shrunk)).size, mime) == ((1200, 800), "image/jpeg")


def test_the_size_is_read_from_the_first_bytes_or_not_at_all():
    photo = noisy_jpeg(2400, 1600)
    assert images.size_from_head(photo[: 64 * 1024]) == (2400, 1600)
    assert images.size_from_head(photo[:100]) is None  # cut before the frame header
    assert images.size_from_head(b"not an image at all") is None
    assert images.size_from_head(png_bytes(300, 200)[:64]) == (300, 200)
