"""Reading admin request bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import request

from ..errors import ApiError
from ..services.validation import check


def json_body(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The request's JSON object, validated against ``schema`` (400 naming the field)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(
            "bad_request",
            "Тело запроса должно быть JSON-объектом (Content-Type: application/json)",
            extra={"field": "body"},
        )
    check(schema, data)
    return data
