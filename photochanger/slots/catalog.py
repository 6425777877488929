"""Slot seeding and settings validation against the driver's JSON schema."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from photochanger.clock import utcnow
from photochanger.extensions import db
from photochanger.models import Slot
from photochanger.providers.base import ProviderDriver
from photochanger.validation import problems

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
    return [
        SettingsProblem(field, message)
        for field, message in problems(driver.settings_schema(operation), dict(settings), "settings")
    ]


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
