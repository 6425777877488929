"""Slot seeding and settings validation against the driver's JSON schema."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from ..extensions import db
from ..models import Slot, utcnow
from ..providers.base import ProviderDriver

SLOT_COUNT = 15
DEFAULT_PROVIDER = "local"
DEFAULT_OPERATION = "filter"


def slot_ids() -> list[str]:
    return [f"slot-{n:03d}" for n in range(1, SLOT_COUNT + 1)]


@dataclass(frozen=True)
class SettingsProblem:
    """One validation error: the field path and a Russian message."""

    field: str
    message: str


def validate_slot_settings(
    driver: ProviderDriver, operation: str, settings: Mapping[str, Any]
) -> list[SettingsProblem]:
    """Problems of ``settings`` for ``driver``/``operation``; empty when valid."""
    if operation not in driver.operations:
        return [
            SettingsProblem(
                "operation", f"Операция «{operation}» не поддерживается провайдером {driver.name}"
            )
        ]
    validator = jsonschema.Draft202012Validator(driver.settings_schema(operation))
    problems = []
    for err in sorted(validator.iter_errors(dict(settings)), key=lambda e: list(e.path)):
        path = ".".join(str(p) for p in err.absolute_path)
        field = "settings" + (f".{path}" if path else "")
        problems.append(SettingsProblem(field, _russian(err)))
    return problems


def _russian(err: jsonschema.ValidationError) -> str:
    v = err.validator
    if v == "required":
        missing = err.message.split("'")[1] if "'" in err.message else ""
        return f"Обязательное поле «{missing}» не заполнено"
    if v == "enum":
        return "Недопустимое значение; допустимы: " + ", ".join(map(str, err.validator_value))
    if v == "type":
        return f"Неверный тип значения: ожидается {err.validator_value}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"Значение вне допустимого диапазона ({v} {err.validator_value})"
    if v in ("minLength",):
        return "Поле не может быть пустым"
    if v == "maxLength":
        return f"Слишком длинное значение (не более {err.validator_value} символов)"
    if v == "additionalProperties":
        return "Неизвестные поля: " + err.message.split("(")[-1].rstrip(")")
    return f"Недопустимое значение: {err.message}"


def seed_slots(drivers: Mapping[str, ProviderDriver]) -> tuple[list[str], list[str]]:
    """Create missing slots slot-001…slot-015; never touch existing ones.

    Fresh slots use the offline ``local`` provider so ingest works at once.
    Returns (created ids, existing ids).
    """
    driver = drivers[DEFAULT_PROVIDER]
    defaults = driver.default_settings(DEFAULT_OPERATION)
    problems = validate_slot_settings(driver, DEFAULT_OPERATION, defaults)
    if problems:
        raise ValueError(f"default slot settings invalid: {problems}")
    existing = {s for (s,) in db.session.query(Slot.id).all()}
    created = []
    for n, slot_id in enumerate(slot_ids(), start=1):
        if slot_id in existing:
            continue
        db.session.add(
            Slot(
                id=slot_id,
                display_name=f"Слот {n}",
                provider=DEFAULT_PROVIDER,
                operation=DEFAULT_OPERATION,
                settings_json=dict(defaults),
                is_active=True,
                version=1,
                gallery_token=new_gallery_token(),
                updated_at=utcnow(),
                updated_by="seed",
            )
        )
        created.append(slot_id)
    db.session.commit()
    return created, sorted(existing)


def invalid_slots(drivers: Mapping[str, ProviderDriver]) -> dict[str, list[SettingsProblem]]:
    """Existing slots whose stored settings no longer satisfy their driver's schema."""
    out: dict[str, list[SettingsProblem]] = {}
    for slot in db.session.query(Slot).order_by(Slot.id):
        driver = drivers.get(slot.provider)
        if driver is None:
            out[slot.id] = [SettingsProblem("provider", f"Неизвестный провайдер «{slot.provider}»")]
            continue
        problems = validate_slot_settings(driver, slot.operation, slot.settings_json or {})
        if problems:
            out[slot.id] = problems
    return out


def new_gallery_token() -> str:
    return secrets.token_urlsafe(24)
