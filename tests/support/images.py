"""Real image bytes for tests, made with Pillow."""

from __future__ import annotations

import io
import os

from PIL import Image, ImageDraw


def jpeg_bytes(
    width: int = 640, height: int = 480, color: tuple[int, int, int] = (40, 120, 200), quality: int = 90
) -> bytes:
    """A JPEG photo with some structure (so filters visibly change it)."""
    im = Image.new("RGB", (width, height), color)
    draw = ImageDraw.Draw(im)
    for x in range(0, width, 32):
        draw.rectangle([x, 0, x + 12, height], fill=((x * 3) % 255, 180, 90))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def noisy_jpeg(width: int = 2400, height: int = 1600, quality: int = 90) -> bytes:
    """A camera-like JPEG: noise compresses as badly as a real photo (2400×1600 ≈ 2 MB)."""
    noise = Image.frombytes("RGB", (width // 4, height // 4), os.urandom(width * height // 16 * 3))
    im = noise.resize((width, height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def png_bytes(width: int = 320, height: int = 240, alpha: bool = False) -> bytes:
    mode = "RGBA" if alpha else "RGB"
    im = Image.new(mode, (width, height), (255, 0, 0, 0) if alpha else (10, 200, 10))
    if alpha:
        draw = ImageDraw.Draw(im)
        draw.rectangle([0, 0, width - 1, height // 8], fill=(255, 215, 0, 255))  # opaque top band
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def webp_bytes(width: int = 200, height: int = 150) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 50, 50)).save(out, "WEBP")
    return out.getvalue()


def open_image(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im
