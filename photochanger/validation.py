"""JSON-schema validation with Russian messages: the one translator of schema violations.

Admin API bodies get a 400 naming the first bad field; slot settings list every problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema
from flask import request

from photochanger.errors import ApiError

#: "Not blank" as a JSON-schema ``pattern``: one character outside every engine's whitespace.
#: ``\s`` alone differs between Python (``\x1c``-``\x1f``), Rust's regex (``\x85``) and ECMA (``\ufeff``),
#: so a client checking the published pattern with its own engine would send what the server refuses.
NOT_BLANK = "[^\\s\\x1c-\\x1f\\x85\\ufeff]"


def field_error(field: str, message: str) -> ApiError:
    """A 400 whose message and ``field`` key both name the field."""
    return ApiError("bad_request", f"Поле «{field}»: {message}", extra={"field": field})


def field_conflict(field: str, message: str) -> ApiError:
    """A 409 naming the field: well formed, but not what the current settings allow (they may change)."""
    return ApiError("conflict", f"Поле «{field}»: {message}", extra={"field": field})


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


def query_int(name: str, default: int, minimum: int, maximum: int, unit: str = "") -> int:
    """An integer query argument within bounds, else 400 naming it (``unit``: e.g. «минут»)."""
    raw = request.args.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise field_error(name, f"ожидается целое число {unit}".rstrip()) from None
    if not minimum <= value <= maximum:
        raise field_error(name, f"допустимо от {minimum} до {maximum} {unit}".rstrip())
    return value


def check(schema: Mapping[str, Any], data: Any, prefix: str = "") -> None:
    """Raise :func:`field_error` for the first (by path) violation of ``schema``."""
    found = problems(schema, data, prefix)
    if found:
        raise field_error(*found[0])


def problems(schema: Mapping[str, Any], data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Every violation of ``schema`` as ``(field path, Russian message)``, ordered by path."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    return [_describe(err, prefix) for err in errors]


def _describe(err: jsonschema.ValidationError, prefix: str) -> tuple[str, str]:
    parts: list[Any] = list(err.absolute_path)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return _path(prefix, [*parts, *extra[:1]]), "неизвестное поле"
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else ""
        return _path(prefix, [*parts, missing]), "обязательное поле не заполнено"
    return _path(prefix, parts), russian(err)


def _path(prefix: str, parts: list[Any]) -> str:
    """``settings.items[0].name`` style; ``prefix`` is the path of ``data`` itself."""
    out = prefix
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def russian(err: jsonschema.ValidationError) -> str:
    """A short Russian explanation of one schema violation."""
    v, value = err.validator, err.validator_value
    if v == "type":
        names = {
            "string": "строка",
            "integer": "целое число",
            "number": "число",
            "boolean": "true/false",
            "object": "объект",
            "array": "список",
            "null": "null",
        }
        wanted = value if isinstance(value, list) else [value]
        return "неверный тип: ожидается " + " или ".join(names.get(str(w), str(w)) for w in wanted)
    if v == "enum":
        return "недопустимое значение; допустимы: " + ", ".join(map(str, value))
    if v in ("minimum", "exclusiveMinimum"):
        return f"значение должно быть не меньше {value}"
    if v in ("maximum", "exclusiveMaximum"):
        return f"значение должно быть не больше {value}"
    if v == "minLength":
        return "поле не может быть пустым" if value == 1 else f"не короче {value} символов"
    if v == "maxLength":
        return f"не длиннее {value} символов"
    if v == "maxItems":
        return f"не больше {value} элементов"
    if v == "pattern":
        return "недопустимый формат значения"
    return "недопустимое значение"
