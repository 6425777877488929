"""Cache headers of JSON answers."""

from __future__ import annotations

from flask import Response


def no_store(resp: Response) -> Response:
    """``Cache-Control: no-store``: admin and API answers are per caller and change at once."""
    resp.headers["Cache-Control"] = "no-store"
    return resp
