"""A QR code on the print: a link to the result's phone page, stamped into a corner of the image.

The code must scan from a 10×15 cm print at 300 dpi: a module is at least
:data:`MIN_MODULE_MM` on a print whose short side is :data:`PRINT_SHORT_MM`,
so its pixel size follows from the image's short side. It never covers more
than :data:`MAX_AREA_SHARE` of the image: the code shrinks (and loses its
caption) before it grows past that. A JPEG is re-encoded with its own
quantisation tables, so the stamped result keeps the quality the slot made.
"""

from __future__ import annotations

import functools
import io
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import segno
from PIL import Image, ImageDraw, ImageFont, ImageOps, JpegImagePlugin

from photochanger.media.images import FORMAT_BY_MIME, JPEG_FORMATS

log = logging.getLogger("photochanger.media.qr")

#: The print the code must scan from: 10×15 cm, so the image's short side is 100 mm.
PRINT_SHORT_MM = 100.0
#: Smallest module a phone camera reliably reads on a print.
MIN_MODULE_MM = 0.4
#: The most of the image the code (with its white plate and caption) may cover.
MAX_AREA_SHARE = 0.08
#: Light modules around the symbol, as the QR standard asks.
QUIET_MODULES = 4
#: Height the caption adds under the code, in modules.
CAPTION_MODULES = 6
_ORIENTATION = 0x0112  # the EXIF tag
CORNERS = ("bottom_right", "bottom_left", "top_right", "top_left")
DEFAULT_CAPTION = "Скачай фото"
#: Fonts with Cyrillic glyphs (Debian fonts-dejavu-core); the first that exists draws the caption.
FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
)

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "QR-код на фото",
    "description": "Ссылка на страницу результата для телефона гостя, печатается в углу фото",
    "additionalProperties": False,
    "properties": {
        "enabled": {"type": "boolean", "default": False, "title": "Печатать QR-код"},
        "corner": {"type": "string", "enum": list(CORNERS), "default": "bottom_right", "title": "Угол"},
        "size_percent": {
            "type": "integer",
            "minimum": 10,
            "maximum": 25,
            "default": 16,
            "title": "Размер, % от короткой стороны",
        },
        "margin_percent": {
            "type": "integer",
            "minimum": 0,
            "maximum": 10,
            "default": 2,
            "title": "Отступ от края, % от короткой стороны",
        },
        "caption": {"type": "string", "maxLength": 24, "default": DEFAULT_CAPTION, "title": "Подпись"},
    },
}
DEFAULTS: dict[str, Any] = {k: v["default"] for k, v in SETTINGS_SCHEMA["properties"].items()}


@dataclass(frozen=True)
class QrOptions:
    """Where and how big the code goes; read from a slot's ``qr`` setting."""

    corner: str = "bottom_right"
    size_percent: int = 16
    margin_percent: int = 2
    caption: str = DEFAULT_CAPTION

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> QrOptions | None:
        """The slot's options, or ``None`` when the slot prints no code (the default)."""
        raw = settings.get("qr")
        if not isinstance(raw, Mapping) or not raw.get("enabled"):
            return None
        return cls.from_values(raw)

    @classmethod
    def from_values(cls, raw: Mapping[str, Any]) -> QrOptions:
        """Options from a valid ``qr`` object, the defaults filling what it leaves out."""
        values = {**DEFAULTS, **raw}
        return cls(
            corner=str(values["corner"]),
            size_percent=int(values["size_percent"]),
            margin_percent=int(values["margin_percent"]),
            caption=str(values["caption"]).strip(),
        )


@dataclass(frozen=True)
class Placement:
    """The white plate's box in the image and the code's module size, in pixels."""

    x: int
    y: int
    width: int
    height: int
    module: int
    caption: bool

    @property
    def area(self) -> int:
        return self.width * self.height


def symbol(url: str) -> segno.QRCode:
    """The QR code of ``url``: level M at least (segno raises it while the size stays)."""
    return segno.make_qr(url, error="m")


def svg(url: str) -> str:
    """The code as inline SVG markup (no script, no external reference) for a web page."""
    code = symbol(url)
    return str(code.svg_inline(scale=4, border=QUIET_MODULES, light="#fff", title="QR-код этой страницы"))


def min_module(short_side: int) -> int:
    """Pixels per module so that a module prints at least :data:`MIN_MODULE_MM`."""
    return max(1, math.ceil(short_side * MIN_MODULE_MM / PRINT_SHORT_MM))


def place(width: int, height: int, modules: int, options: QrOptions) -> Placement | None:
    """The code's box in a ``width``×``height`` image, or ``None`` when it cannot fit the area cap.

    The module is the asked size or the printable minimum, whichever is larger,
    then shrunk until the plate fits :data:`MAX_AREA_SHARE`; without the caption
    if need be. With a result link's length, a printable code and its caption
    cover about 4 % of a square image and less of a print-shaped one, so the
    shrinking only bites on a large ``size_percent`` or an image too small to print.
    """
    short = min(width, height)
    side_modules = modules + 2 * QUIET_MODULES
    asked = short * options.size_percent // 100 // side_modules
    module = max(asked, min_module(short))
    cap = MAX_AREA_SHARE * width * height
    margin = short * options.margin_percent // 100
    for caption in (True, False) if options.caption else (False,):
        for m in range(module, 0, -1):
            plate_w = side_modules * m
            plate_h = plate_w + (_caption_height(m) if caption else 0)
            if plate_w * plate_h <= cap and plate_w <= width and plate_h <= height:
                x = margin if options.corner.endswith("left") else width - plate_w - margin
                y = margin if options.corner.startswith("top") else height - plate_h - margin
                return Placement(max(0, x), max(0, y), plate_w, plate_h, m, caption)
    return None


def _caption_height(module: int) -> int:
    """What the caption adds under the quiet zone (its band also takes two quiet modules)."""
    return module * CAPTION_MODULES


@functools.cache
def _font_path() -> str | None:
    return next((p for p in FONT_PATHS if os.path.exists(p)), None)


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | None:
    path = _font_path()
    return ImageFont.truetype(path, size) if path else None


def plate(qr: segno.QRCode, placement: Placement, caption: str) -> Image.Image:
    """The code on its white plate, with the caption under it when there is room."""
    m = placement.module
    n = len(qr.matrix)
    matrix = Image.new("L", (n, n), 255)
    matrix.putdata([0 if dark else 255 for row in qr.matrix for dark in row])
    code = matrix.resize((matrix.width * m, matrix.height * m), Image.Resampling.NEAREST)
    out = Image.new("RGB", (placement.width, placement.height), (255, 255, 255))
    out.paste(code, (QUIET_MODULES * m, QUIET_MODULES * m))
    if placement.caption and caption:
        _draw_caption(out, caption, m)
    return out


def _draw_caption(out: Image.Image, caption: str, m: int) -> None:
    """The caption centred in the band under the quiet zone, as large as fits."""
    # The band borrows the quiet zone's lower half; the glyphs, centred in it, stay clear of the code.
    band_top = out.width - 2 * m
    band_h = out.height - band_top
    size = max(6, band_h * 3 // 4)
    font = _font(size)
    if font is None:
        log.warning("qr.no_font", extra={"event": "qr.no_font", "paths": list(FONT_PATHS)})
        return
    while size > 6 and font.getlength(caption) > out.width - 2 * m:
        size -= 1
        font = _font(size) or font
    draw = ImageDraw.Draw(out)
    draw.text((out.width / 2, band_top + band_h / 2), caption, fill=(0, 0, 0), font=font, anchor="mm")


def stamp(data: bytes, mime: str, url: str, options: QrOptions, quality: int = 92) -> bytes:
    """``data`` with the code of ``url`` in the asked corner, in the same format.

    A JPEG keeps its own quantisation tables; ``quality`` applies only where
    it cannot (a rotated or re-moded image, WEBP). CPU work (decode, paste,
    encode): callers on the event loop run it in a thread. An image too small
    for a code within the area cap is returned unchanged, with a warning in the log.
    """
    qr = symbol(url)
    with Image.open(io.BytesIO(data)) as src:
        src.load()
        im: Image.Image = src
        keep_tables = src.format in JPEG_FORMATS
        if src.getexif().get(_ORIENTATION, 1) != 1:
            # Rotated pixels: the code must sit in the corner a viewer sees; re-encoded at our quality.
            im, keep_tables = ImageOps.exif_transpose(src), False
        placement = place(im.width, im.height, len(qr.matrix), options)
        if placement is None:
            log.warning("qr.no_room", extra={"event": "qr.no_room", "size": list(im.size)})
            return data
        if im.mode not in ("RGB", "RGBA"):
            im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
            keep_tables = False
        im.paste(plate(qr, placement, options.caption), (placement.x, placement.y))
        return _encode(im, mime, quality, keep_tables, src)


def _encode(im: Image.Image, mime: str, quality: int, keep_tables: bool, src: Image.Image) -> bytes:
    """``im`` in ``mime``'s format with its colour profile and EXIF."""
    out = io.BytesIO()
    fmt = FORMAT_BY_MIME.get(mime, "JPEG")
    extra = {k: im.info[k] for k in ("icc_profile", "exif") if im.info.get(k)}
    if fmt == "JPEG":
        if keep_tables:
            # The source's own quantisation tables and subsampling: the slot's quality, not ours.
            extra.update(qtables=getattr(src, "quantization", None), subsampling=_subsampling(src))
            im.save(out, "JPEG", **extra)
        else:
            im.convert("RGB").save(out, "JPEG", quality=quality, **extra)
    elif fmt == "WEBP":
        im.save(out, "WEBP", quality=quality, **extra)
    else:
        im.save(out, fmt, **extra)
    return out.getvalue()


def _subsampling(src: Image.Image) -> int:
    """The source's chroma subsampling (4:2:0 when Pillow cannot tell)."""
    sampling = int(JpegImagePlugin.get_sampling(src))
    return sampling if sampling >= 0 else 2
