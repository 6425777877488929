"""Arrange the database the way an admin would have configured it."""

from __future__ import annotations

from typing import Any

from flask import Flask

from photochanger.extensions import db
from photochanger.models import Slot
from photochanger.settings.store import save_setting


def configure_slot(app: Flask, slot_id: str = "slot-001", **fields: Any) -> None:
    """Set slot columns (``provider``, ``operation``, ``settings_json``, ``is_active`` …)."""
    with app.app_context():
        slot = db.session.get(Slot, slot_id)
        assert slot is not None
        for key, value in fields.items():
            setattr(slot, key, value)
        slot.version += 1
        db.session.commit()


def gemini_slot(app: Flask, slot_id: str = "slot-001", **settings: Any) -> None:
    configure_slot(
        app,
        slot_id,
        provider="gemini",
        operation="image_edit",
        settings_json={"prompt": "Сделай фон пляжем", **settings},
    )


def set_settings(app: Flask, **values: Any) -> None:
    with app.app_context():
        for key, value in values.items():
            save_setting(key, value, "tests")
        db.session.commit()
