"""Schemathesis hooks: real JPEG, PNG and WEBP files for the contract's image parts.

JSON Schema cannot say "bytes a decoder accepts", so schemathesis fills a ``format: binary``
part with sample files of other formats (GIF, PDF, ZIP) or random bytes, which the server
rightly answers 415. The contract names the parts' types in ``encoding.<part>.contentType``;
with these strategies registered, schemathesis draws real pictures of those types instead.
Outside runs: ``SCHEMATHESIS_HOOKS=tests.contracts.image_parts st run …`` from the repository root.
"""

from __future__ import annotations

import io

import schemathesis
from hypothesis import strategies as st
from PIL import Image


def _picture(kind: str, width: int, height: int, shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 255 - shade, 128)).save(out, format=kind)
    return out.getvalue()


def _pictures(kind: str) -> st.SearchStrategy[bytes]:
    sizes = st.tuples(st.integers(8, 64), st.integers(8, 64), st.integers(0, 255))
    return sizes.map(lambda size: _picture(kind, *size))


for media_type, kind in (("image/jpeg", "JPEG"), ("image/png", "PNG"), ("image/webp", "WEBP")):
    schemathesis.openapi.media_type(media_type, _pictures(kind))
