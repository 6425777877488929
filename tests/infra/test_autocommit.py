"""Autocommit on demand: PostgreSQL statements without BEGIN/COMMIT, transactions elsewhere."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from photochanger.extensions import db
from photochanger.infra.autocommit import autocommit
from photochanger.models import Slot

pytestmark = pytest.mark.db


def _rename(name: str) -> None:
    db.session.execute(text("UPDATE slot SET display_name = :name WHERE id = 'slot-001'"), {"name": name})


def _name_seen_from_elsewhere(app) -> str:
    with app.app_context():
        other = create_engine(db.engine.url)
    try:
        with other.connect() as conn:
            return conn.execute(text("SELECT display_name FROM slot WHERE id = 'slot-001'")).scalar_one()
    finally:
        other.dispose()


def _postgresql_only(app) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("autocommit is switched on PostgreSQL only")


def test_a_statement_after_autocommit_is_committed_by_itself(app):
    _postgresql_only(app)
    with app.app_context():
        autocommit()
        _rename("Свадьба")
        assert _name_seen_from_elsewhere(app) == "Свадьба"  # before any commit
        db.session.rollback()  # nothing left to undo
        assert db.session.get(Slot, "slot-001").display_name == "Свадьба"


def test_autocommit_leaves_a_transaction_that_has_begun_alone(app):
    _postgresql_only(app)
    with app.app_context():
        before = db.session.get(Slot, "slot-001").display_name
        autocommit()  # too late: the SELECT above began a transaction
        _rename("Выпускной")
        db.session.rollback()
        assert db.session.get(Slot, "slot-001").display_name == before


def test_the_next_transaction_after_a_commit_is_a_transaction_again(app):
    _postgresql_only(app)
    with app.app_context():
        autocommit()
        _rename("Корпоратив")
        db.session.commit()
        before = db.session.get(Slot, "slot-001").display_name
        _rename("Юбилей")
        assert _name_seen_from_elsewhere(app) == before
        db.session.rollback()
        assert db.session.get(Slot, "slot-001").display_name == "Корпоратив"


def test_on_sqlite_autocommit_changes_nothing(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the SQLite half")
        before = db.session.get(Slot, "slot-001").display_name
        db.session.rollback()
        autocommit()
        _rename("Не сохранится")
        db.session.rollback()
        assert db.session.get(Slot, "slot-001").display_name == before
