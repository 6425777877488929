"""The worker's copy of settings and slots: one small read per ingest, never stale."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from photochanger.errors import ApiError
from photochanger.extensions import db
from photochanger.settings.store import save_setting
from photochanger.slots.snapshot import ingest_config
from tests.support.images import png_bytes
from tests.support.statements import record_statements
from tests.support.templates import add_template

pytestmark = pytest.mark.db


def _config(app, slot_id: str = "slot-001"):
    with app.app_context():
        try:
            return ingest_config(slot_id)
        finally:
            db.session.remove()


def test_an_unchanged_configuration_costs_one_small_read(app):
    _config(app)
    seen, stop = record_statements(app)
    try:
        settings, slot = _config(app)
    finally:
        stop()
    assert len(seen) == 1 and "config_generation" in seen[0], seen
    assert slot.id == "slot-001" and settings.sync_response_seconds > 0


def test_a_changed_setting_is_read_on_the_next_call(app):
    before, _ = _config(app)
    with app.app_context():
        save_setting("sync_response_seconds", before.sync_response_seconds + 5, "admin")
        db.session.commit()
    after, _ = _config(app)
    assert after.sync_response_seconds == before.sync_response_seconds + 5


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE slot SET is_active = false WHERE id = 'slot-001'",
        "UPDATE app_settings SET value = value",  # any writer, even one changing nothing
    ],
    ids=["slot", "settings"],
)
def test_any_write_to_a_watched_table_moves_the_generation(app, change):
    _config(app)
    with app.app_context():
        before = db.session.execute(text("SELECT generation FROM config_generation")).scalar_one()
        db.session.execute(text(change))
        db.session.commit()
        after = db.session.execute(text("SELECT generation FROM config_generation")).scalar_one()
    assert after > before


def test_a_deactivated_slot_is_refused_on_the_next_photo(app):
    _config(app)
    with app.app_context():
        db.session.execute(text("UPDATE slot SET is_active = false WHERE id = 'slot-001'"))
        db.session.commit()
    with pytest.raises(ApiError) as refused:
        _config(app)
    assert refused.value.reason == "slot_inactive"


def test_a_template_added_to_a_slot_is_sent_with_the_next_photo(app):
    _, slot = _config(app)
    assert slot.templates == ()
    add_template(app, "slot-001", png_bytes(), "style")
    _, slot = _config(app)
    assert [role for role, _, _ in slot.templates] == ["style"]


def test_an_unknown_slot_is_404_and_not_remembered(app):
    for _ in range(2):
        with pytest.raises(ApiError) as missing:
            _config(app, "slot-404")
        assert missing.value.reason == "slot_not_found"
    with app.app_context():
        copy = app.extensions["photochanger.config_cache"]
        assert "slot-404" not in copy.slots


def test_each_call_gets_its_own_slot_settings(app):
    _, first = _config(app)
    first.settings["prompt"] = "изменено вызывающим"
    _, second = _config(app)
    assert second.settings.get("prompt") != "изменено вызывающим"


def test_without_the_generation_row_every_call_reads_afresh(app):
    _config(app)
    with app.app_context():
        db.session.execute(text("DELETE FROM config_generation"))
        db.session.execute(text("UPDATE slot SET is_active = false WHERE id = 'slot-001'"))
        db.session.commit()
    with pytest.raises(ApiError) as refused:
        _config(app)
    assert refused.value.reason == "slot_inactive"
