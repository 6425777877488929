"""The form and files of a multipart request, or 400 ``bad_request`` in Russian."""

from __future__ import annotations

from typing import Any

from flask import request

from photochanger.errors import ApiError


def multipart_form(expected: str) -> tuple[Any, Any]:
    """``request.form`` and ``request.files``; ``expected`` says in Russian what the body should be."""
    if not request.mimetype.startswith("multipart/form-data"):
        raise ApiError("bad_request", expected)
    try:
        return request.form, request.files
    except ApiError:
        raise
    except ValueError as exc:
        raise ApiError("bad_request", "Некорректное тело multipart/form-data") from exc
