"""Image helpers: format sniffing by bytes, provider downscaling, previews."""

from __future__ import annotations

import io
from typing import IO

from PIL import Image, ImageFile, ImageOps

MIME_BY_FORMAT = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXT_BY_MIME = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
FORMAT_BY_MIME = {v: k for k, v in MIME_BY_FORMAT.items()}
#: Pillow's names for a JPEG: MPO is one with extra frames (many cameras embed a large preview).
JPEG_FORMATS = ("JPEG", "MPO")


def sniff_mime(head: bytes) -> str | None:
    """MIME type of a JPEG/PNG/WEBP judged by its magic bytes, else ``None``."""
    if head[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def size_from_head(head: bytes) -> tuple[int, int] | None:
    """The pixel size an image's first bytes declare, or ``None`` while they don't tell.

    Pillow parses only the headers here (a JPEG's markers up to its first scan),
    so this is the same size :func:`shrink_file` would see in the whole file.
    """
    try:
        with Image.open(io.BytesIO(head)) as im:
            return im.size
    except Exception:  # noqa: BLE001 - cut short before the size, or not an image at all
        return None


def verify_image(data: bytes) -> str | None:
    """Check an image's structure and that it is complete; return its MIME or ``None``.

    Only the header is parsed (``Image.verify``), not every pixel, so a file
    cut short would pass and only fail when decoded (for a guest's photo:
    deep in the pipeline, as a misleading provider error). The end marker of
    each format is checked instead: a JPEG's EOI after its first scan, a PNG's
    IEND chunk, the length a WEBP's RIFF header declares.
    """
    fp = io.BytesIO(data)  # shares the bytes, no copy
    try:
        with Image.open(fp) as im:
            fmt = im.format
            scan_start = fp.tell()  # for a JPEG: just past the first SOS header
            im.verify()
    except Exception:  # noqa: BLE001 - any decoder error means "not an image"
        return None
    if fmt in JPEG_FORMATS:
        fmt = "JPEG"
    if fmt == "JPEG" and data.rfind(b"\xff\xd9") < scan_start:
        return None  # scan data cannot contain FFD9 (0xFF is stuffed), so no EOI: truncated
    if fmt == "PNG" and not 0 <= data.rfind(b"IEND") <= len(data) - 8:  # chunk type + CRC
        return None
    if fmt == "WEBP" and len(data) < 8 + int.from_bytes(data[4:8], "little"):
        return None
    return MIME_BY_FORMAT.get(fmt or "")


_DECODE_BLOCK = 256 * 1024

#: Reductions libjpeg performs while decoding (Pillow's ``draft``).
_JPEG_SCALES = (1, 2, 4, 8)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def reduction_plan(long_side: int, max_side: int, min_side: int, scales: tuple[int, ...]) -> tuple[int, bool]:
    """Pick ``(factor, resample)`` for shrinking ``long_side`` to at most ``max_side``.

    A factor whose result lands in ``[min_side, max_side]`` needs no resampling
    (for a JPEG, libjpeg's reduced decode does all the work); the smallest such
    factor keeps the most detail. Without one, reduce by the biggest factor that
    still leaves at least ``max_side`` pixels and resample from there.
    """
    for factor in sorted(scales):
        side = _ceil_div(long_side, factor)
        if side <= max_side:
            if side >= min_side:
                return factor, False
            break
    factor = max((f for f in scales if _ceil_div(long_side, f) >= max_side), default=1)
    return factor, True


def _reduced(im: Image.Image, max_side: int, min_side: int) -> Image.Image:
    """Decode a just-opened image with as few pixels as shrinking it to ``max_side`` allows.

    JPEG: libjpeg decodes at the 1/2, 1/4 or 1/8 scale :func:`reduction_plan`
    picks. Other formats: an exact box ``reduce`` when a whole factor lands in
    ``[min_side, max_side]``. EXIF rotation is applied in place (the default
    returns a full copy of the decoded pixels).
    """
    width, height = im.size
    if im.format in JPEG_FORMATS:
        factor, _ = reduction_plan(max(width, height), max_side, min_side, _JPEG_SCALES)
        if factor > 1:
            # Pillow picks the biggest scale that keeps *both* sides at least this
            # box; a square (max_side, max_side) request would disable the draft
            # for every landscape photo, which then decodes at full size.
            im.draft("RGB", (max(1, width // factor), max(1, height // factor)))
    else:
        factor, resample = reduction_plan(max(width, height), max_side, min_side, tuple(range(1, 65)))
        if factor > 1 and not resample:
            im = im.reduce(factor)  # an exact box filter: cheap and alias-free
    ImageOps.exif_transpose(im, in_place=True)
    return im


def downscale(
    data: bytes, mime: str, max_side: int, min_side: int | None = None, quality: int = 90
) -> tuple[bytes, str]:
    """Shrink an image so its longest side is at most ``max_side``.

    Returns the input unchanged (no decode) when it is already small enough.
    ``min_side`` (default ``max_side``) is the smallest longest side the caller
    can use: any size in ``[min_side, max_side]`` is acceptable, which lets a
    JPEG be decoded straight at 1/2, 1/4 or 1/8 scale and a PNG be reduced by a
    whole factor, with no resampling pass (the costliest step). JPEG stays JPEG;
    PNG/WEBP keep their format (alpha matters for templates).
    """
    shrunk = shrink_file(io.BytesIO(data), max_side, min_side, quality, mime)
    return (data, mime) if shrunk is None else shrunk


def shrink_file(
    fp: IO[bytes], max_side: int, min_side: int | None = None, quality: int = 90, mime: str | None = None
) -> tuple[bytes, str] | None:
    """:func:`downscale` of an image read from ``fp``; ``None`` when it is small enough as it is.

    Only the header is read in that case, which lets a caller decide before
    the rest of a file has even arrived. ``mime`` (default: the format found)
    chooses the output format.
    """
    floor = max_side if min_side is None else min(min_side, max_side)
    im: Image.Image = Image.open(fp)
    if max(im.size) <= max_side:
        im.close()
        return None
    if isinstance(im, ImageFile.ImageFile):
        # Fewer, bigger reads: a decoder thread racing an arriving upload pays a
        # GIL hand-over per read (64 KB by default).
        im.decodermaxblock = max(im.decodermaxblock, _DECODE_BLOCK)
    mime = mime or MIME_BY_FORMAT.get(im.format or "", "image/jpeg")
    im = _reduced(im, max_side, floor)
    if max(im.size) > max_side:
        # Hamming: a proper downscaling filter at bilinear cost, cheaper than
        # Lanczos; the difference is invisible to an AI model.
        im.thumbnail((max_side, max_side), Image.Resampling.HAMMING)
    out = io.BytesIO()
    fmt = FORMAT_BY_MIME.get(mime, "JPEG")
    if fmt == "JPEG":
        rgb = im if im.mode == "RGB" else im.convert("RGB")
        rgb.save(out, "JPEG", quality=quality, optimize=False)
    else:
        im.save(out, fmt)
    return out.getvalue(), mime


def make_preview(data: bytes, max_side: int = 512) -> bytes:
    """A small WebP preview for galleries."""
    im = _reduced(Image.open(io.BytesIO(data)), max_side, max_side)
    im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
    out = io.BytesIO()
    # method=0: the fastest encoder effort, much cheaper than the default 4; a
    # 512 px preview grows only slightly. It runs on the worker's CPU
    # after every ingest, so it is taken from the booths' throughput.
    im.save(out, "WEBP", quality=80, method=0)
    return out.getvalue()


def convert(data: bytes, target_mime: str, quality: int = 92) -> bytes:
    """Re-encode an image (e.g. a provider PNG to JPEG for printing)."""
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        fmt = FORMAT_BY_MIME[target_mime]
        out = io.BytesIO()
        if fmt == "JPEG":
            rgb = im.convert("RGBA") if im.mode in ("P", "LA") else im
            if rgb.mode == "RGBA":
                bg = Image.new("RGB", rgb.size, (255, 255, 255))
                bg.paste(rgb, mask=rgb.getchannel("A"))
                rgb = bg
            rgb.convert("RGB").save(out, "JPEG", quality=quality)
        else:
            im.save(out, fmt)
        return out.getvalue()
